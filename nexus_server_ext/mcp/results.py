"""What an MCP server said, as NEXUS shows it: a tool's result as the model reads it, a stdio
server's own last words on stderr, and a failure in one sentence."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from typing import TYPE_CHECKING, TextIO

from ..agent.outputs import clip
from ..agent.tools import ToolOutcome

if TYPE_CHECKING:
    from mcp.types import CallToolResult

RESULT_LIMIT = 8000  # of a tool result, as the model reads it
STDERR_KEPT = 4000  # bytes of a stdio server's stderr kept for its failure message
CONNECTION_CLOSED = -32000  # the SDK's error code for a connection that ended


class StderrTail(asyncio.Protocol):
    """The end of what a stdio server writes to stderr: its own words on why it stopped."""

    def __init__(self) -> None:
        self.writer: TextIO | None = None  # the child's stderr
        self._tail = bytearray()
        self._eof = asyncio.Event()
        self._transport: asyncio.BaseTransport | None = None

    @classmethod
    async def open(cls) -> StderrTail:
        self = cls()
        read_fd, write_fd = os.pipe()
        self.writer = os.fdopen(write_fd, "w")
        reader = os.fdopen(read_fd, "rb", 0)
        try:
            self._transport, _ = await asyncio.get_running_loop().connect_read_pipe(lambda: self, reader)
        except (NotImplementedError, OSError):  # a loop without pipes: the stderr is not kept
            reader.close()
            self.writer.close()
            self.writer = open(os.devnull, "w")  # noqa: SIM115 - closed by ``spawned``
            self._eof.set()
        return self

    def data_received(self, data: bytes) -> None:
        self._tail += data
        del self._tail[:-STDERR_KEPT]

    def connection_lost(self, exc: Exception | None) -> None:
        self._eof.set()

    def spawned(self) -> None:
        """The child has its copy of the pipe: close ours, so its exit ends the stream."""
        if self.writer is not None:
            self.writer.close()

    async def text(self) -> str:
        self.spawned()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._eof.wait(), 1.0)
        return self._tail.decode("utf-8", "replace").strip()

    def close(self) -> None:
        self.spawned()
        if self._transport is not None:
            self._transport.close()


def reason(exc: BaseException) -> str:
    """The innermost error, in words (the SDK wraps failures in exception groups)."""
    while getattr(exc, "exceptions", None):
        exc = exc.exceptions[0]  # type: ignore[attr-defined]
    if isinstance(exc, TimeoutError):
        return "it did not answer in time"
    if type(exc).__name__ == "MCPError":
        return str(exc)
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def closed(exc: BaseException) -> bool:
    return getattr(exc, "code", None) == CONNECTION_CLOSED or type(exc).__name__ != "MCPError"


def outcome(server: str, tool: str, result: CallToolResult) -> ToolOutcome:
    text = clip(result_text(result), RESULT_LIMIT)
    first = next((line for line in text.splitlines() if line.strip()), "")
    verb = "failed" if result.is_error else "answered"
    return ToolOutcome(
        result=text,
        summary=f"{tool} on {server} {verb}: {first[:80]}",
        data={"server": server, "tool": tool},
        failed=bool(result.is_error),
    )


def result_text(result: CallToolResult) -> str:
    """The result as the model reads it: text as is, images and other binaries described."""
    parts: list[str] = []
    for block in result.content:
        kind = getattr(block, "type", "")
        if kind == "text":
            parts.append(str(getattr(block, "text", "")))
        elif kind in ("image", "audio"):
            size = decoded_size(getattr(block, "data", ""))
            parts.append(f"[{kind}: {getattr(block, 'mime_type', '?')}, {size} bytes]")
        elif kind == "resource_link":
            parts.append(f"[resource link: {getattr(block, 'name', '')} {getattr(block, 'uri', '')}]")
        elif kind == "resource":
            resource = getattr(block, "resource", None)
            text = getattr(resource, "text", None)
            if text is not None:
                parts.append(str(text))
            else:
                blob = getattr(resource, "blob", "")
                mime = getattr(resource, "mime_type", None) or "binary"
                parts.append(f"[resource {getattr(resource, 'uri', '')}: {mime}, {decoded_size(blob)} bytes]")
    if not parts and result.structured_content is not None:
        parts.append(json.dumps(result.structured_content, ensure_ascii=False, default=str))
    return "\n".join(parts) if parts else "(the tool returned nothing)"


def decoded_size(data: str) -> int:
    return len(data) * 3 // 4 - data[-2:].count("=")
