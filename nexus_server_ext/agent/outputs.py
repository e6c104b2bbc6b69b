"""What one cell run produced: the outputs as the notebook stores them, and as a model reads them.

``OutputArea`` keeps a run's outputs the way JupyterLab keeps a cell's (streams
merged, ``clear_output`` applied, displays updated in place); ``Execution`` is
the finished run, and ``summary`` its text for a model: images described by type
and size, ANSI escapes stripped, long text cut in the middle.
"""

from __future__ import annotations

import base64
import logging
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

log = logging.getLogger(__name__)


@dataclass
class Execution:
    """What one cell run produced, as the notebook would store it."""

    status: Literal["ok", "error", "aborted", "interrupted", "timeout"]
    outputs: list[dict[str, Any]] = field(default_factory=list)
    execution_count: int | None = None
    error: dict[str, Any] | None = None

    def summary(self, limit: int = 4000) -> str:
        """The outputs as text for a model: images described, ANSI stripped, long text cut in the middle."""
        parts = [_describe(output) for output in self.outputs]
        if self.error and not any(o.get("output_type") == "error" for o in self.outputs):
            parts.append(_describe({"output_type": "error", **self.error}))  # e.g. the kernel died
        note = {
            "timeout": "[stopped: the cell ran past its time limit and was interrupted]",
            "interrupted": "[interrupted]",
            "aborted": "[not run: the kernel aborted it, an earlier request failed]",
        }.get(self.status)
        if note:
            parts.append(note)
        text = "\n".join(p for p in parts if p) or "(no output)"
        return clip(text, limit)


_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")
_DEFAULT_REPR = re.compile(r"^<[\w.]+ object( at 0x[0-9a-fA-F]+)?>$")
_IMAGES = ("image/png", "image/jpeg", "image/gif", "image/svg+xml", "image/webp")


def _size(n: int) -> str:
    return f"{n / 1e6:.0f} MB" if n >= 1e6 else f"{n / 1e3:.0f} kB" if n >= 1e3 else f"{n} B"


def _image(mime: str, data: Any) -> str:
    """``[image/png 640x480, 23 kB]``: the decoded size, and the dimensions where the header has them."""
    text = "".join(data) if isinstance(data, list) else str(data)
    if mime == "image/svg+xml":
        return f"[{mime}, {_size(len(text.encode()))}]"
    try:
        raw = base64.b64decode(text)
    except ValueError:
        return f"[{mime}]"
    dims = ""
    if raw[:8] == b"\x89PNG\r\n\x1a\n" and len(raw) >= 24:
        dims = " {}x{}".format(*struct.unpack(">II", raw[16:24]))
    elif raw[:6] in (b"GIF87a", b"GIF89a") and len(raw) >= 10:
        dims = " {}x{}".format(*struct.unpack("<HH", raw[6:10]))
    return f"[{mime}{dims}, {_size(len(raw))}]"


def _fold(text: str) -> str:
    """A terminal's view of ``text``: of each line rewritten with carriage returns, the last version."""
    lines = text.replace("\r\n", "\n").split("\n")
    return "\n".join(next((s for s in reversed(line.split("\r")) if s), "") for line in lines)


def _describe(output: dict[str, Any]) -> str:
    kind = output.get("output_type")
    if kind == "stream":
        return _ANSI.sub("", _fold(output.get("text", ""))).rstrip("\n")
    if kind == "error":
        head = f"{output.get('ename', 'Error')}: {output.get('evalue', '')}"
        lines = [
            ln for ln in _ANSI.sub("", "\n".join(output.get("traceback") or [])).splitlines() if ln.strip()
        ]
        if lines and lines[-1].strip() == head.strip():
            lines.pop()
        return "\n".join([head, *lines[-8:]])
    data = output.get("data") or {}
    parts = [_image(mime, data[mime]) for mime in _IMAGES if mime in data]
    plain = data.get("text/plain")
    if plain is not None:
        plain = _ANSI.sub("", "".join(plain) if isinstance(plain, list) else str(plain))
        if not (parts and _DEFAULT_REPR.match(plain.strip())):
            parts.append(plain)
    if not parts and data:
        parts.append("[" + ", ".join(sorted(data)) + " output]")
    return "\n".join(parts)


def clip(text: str, limit: int) -> str:
    """``text`` in at most about ``limit`` characters: its head and its tail, and how much was cut between."""
    if len(text) <= limit:
        return text
    keep = max(limit - len(f"\n[... {len(text)} characters cut ...]\n"), 0)
    head = keep // 2
    return f"{text[:head]}\n[... {len(text) - keep} characters cut ...]\n{text[len(text) - (keep - head) :]}"


class OutputArea:
    """The outputs of one run, kept the way JupyterLab keeps a cell's: streams merged, clears applied."""

    def __init__(self, on_output: Callable[[dict[str, Any]], None] | None) -> None:
        self.outputs: list[dict[str, Any]] = []
        self._on_output = on_output
        self._clear_on_next = False
        self._displays: dict[str, list[int]] = {}

    def add(self, kind: str, content: dict[str, Any]) -> None:
        if kind == "clear_output":
            if content.get("wait"):
                self._clear_on_next = True
            else:
                self._clear()
            return
        if kind == "update_display_data":
            for index in self._displays.get(content.get("transient", {}).get("display_id", ""), []):
                self.outputs[index].update(data=content["data"], metadata=content.get("metadata", {}))
            return
        if kind not in ("stream", "display_data", "execute_result", "error"):
            return
        if self._clear_on_next:
            self._clear()
        output: dict[str, Any] = {"output_type": kind}
        if kind == "stream":
            output.update(name=content["name"], text=content["text"])
        elif kind == "error":
            output.update(ename=content["ename"], evalue=content["evalue"], traceback=content["traceback"])
        else:
            output.update(data=content["data"], metadata=content.get("metadata", {}))
            if kind == "execute_result":
                output["execution_count"] = content.get("execution_count")
        self._notify(dict(output))
        last = self.outputs[-1] if self.outputs else None
        if kind == "stream" and last and last["output_type"] == "stream" and last["name"] == output["name"]:
            last["text"] += output["text"]
            return
        display_id = content.get("transient", {}).get("display_id")
        if display_id:
            self._displays.setdefault(display_id, []).append(len(self.outputs))
        self.outputs.append(output)

    def _clear(self) -> None:
        self.outputs.clear()
        self._displays.clear()
        self._clear_on_next = False
        self._notify({"output_type": "clear_output"})

    def _notify(self, output: dict[str, Any]) -> None:
        if self._on_output is not None:
            try:
                self._on_output(output)
            except Exception:
                log.exception("NEXUS agent: an on_output callback failed")


DIED = {
    "ename": "DeadKernel",
    "evalue": "the kernel died while running the cell; it restarts with none of its variables",
    "traceback": [],
}


def execution_of(reply: dict[str, Any], outputs: list[dict[str, Any]], timed_out: bool) -> Execution:
    count = reply.get("execution_count")
    if count is None:
        count = next(
            (o.get("execution_count") for o in outputs if o["output_type"] == "execute_result"), None
        )
    status = reply.get("status")
    error = None
    if status is None:  # no reply: judge by the outputs
        raised = [o for o in outputs if o["output_type"] == "error"]
        status, reply = ("error", raised[-1]) if raised else ("ok", reply)
    if timed_out:
        return Execution("timeout", outputs, count)
    if status == "aborted":
        return Execution("aborted", outputs, count)
    if status == "error":
        if reply.get("ename") == "KeyboardInterrupt":
            return Execution("interrupted", outputs, count)
        error = {k: reply.get(k) for k in ("ename", "evalue")} | {
            "traceback": list(reply.get("traceback") or [])
        }
        return Execution("error", outputs, count, error)
    return Execution("ok", outputs, count)
