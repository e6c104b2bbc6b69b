"""The admin's list of MCP servers: each entry checked, with ``${VAR}`` filled in, and tool names.

An entry is ``{"command": [...], "env": {...}, "cwd": ...}`` (stdio) or ``{"url": ..., "headers":
{...}}`` (Streamable HTTP), with ``tools`` (the allow list; ``"*"`` for all) and ``read_only``.
A bad entry is refused with a message naming what is wrong; it never stops the others.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ..ai.routing import interpolate

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")
_KEYS = frozenset({"command", "env", "cwd", "url", "headers", "tools", "read_only"})


def tool_name(server: str, tool: str) -> str:
    """The agent's name for a server's tool, in the characters and length model APIs accept."""
    return re.sub(r"[^A-Za-z0-9_]", "_", f"mcp__{server}__{tool}")[:64]


# -- configuration ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class ServerConfig:
    """One server's checked entry (``${VAR}`` in ``command``, ``env`` and ``headers`` filled in)."""

    name: str
    command: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    cwd: str | None = None
    url: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    tools: frozenset[str] = frozenset()  # the allow list; "*" allows every tool
    read_only: frozenset[str] = frozenset()  # the admin's word that these change nothing: no approval

    @property
    def transport(self) -> Literal["stdio", "http"]:
        return "stdio" if self.command else "http"

    @property
    def target(self) -> str:
        """What a dashboard may show: the program, or the URL without credentials or query."""
        if self.command:
            return Path(self.command[0]).name
        from urllib.parse import urlsplit

        url = urlsplit(self.url)
        return f"{url.scheme}://{url.hostname}{f':{url.port}' if url.port else ''}{url.path}"

    def allows(self, tool: str) -> bool:
        return "*" in self.tools or tool in self.tools

    def redact(self, text: str) -> str:
        """``text`` without the configured secrets (env and header values), for status and logs."""
        for secret in (*self.env.values(), *self.headers.values()):
            if len(secret) >= 6:
                text = text.replace(secret, "***")
        return text


def parse_server(name: Any, entry: Any) -> ServerConfig:
    """``entry`` checked; a ``ValueError`` says what is wrong in words an administrator can act on."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError("a server's name is 1-32 letters, digits, '_' or '-'")
    if not isinstance(entry, dict):
        raise ValueError("its entry must be a mapping with a 'command' or a 'url'")
    if unknown := set(entry) - _KEYS:
        raise ValueError(f"unknown keys {sorted(unknown)} (the keys are {sorted(_KEYS)})")
    command, url = entry.get("command"), entry.get("url")
    if (command is None) == (url is None):
        raise ValueError("give exactly one of 'command' (a stdio server) and 'url' (Streamable HTTP)")
    if command is not None:
        if not isinstance(command, list) or not command or not all(isinstance(c, str) and c for c in command):
            raise ValueError("'command' is a list of strings, e.g. ['python', 'server.py']")
        if "headers" in entry:
            raise ValueError("'headers' is for a 'url' server")
    elif not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise ValueError("'url' is an http:// or https:// URL")
    elif "env" in entry or "cwd" in entry:
        raise ValueError("'env' and 'cwd' are for a 'command' server")
    cwd = entry.get("cwd")
    if cwd is not None and not isinstance(cwd, str):
        raise ValueError("'cwd' is a folder path")
    return ServerConfig(
        name=name,
        command=tuple(interpolate(c) for c in command or ()),
        env=_strings(entry, "env"),
        cwd=cwd,
        url=url or "",
        headers=_strings(entry, "headers"),
        tools=_names(entry, "tools"),
        read_only=_names(entry, "read_only"),
    )


def _strings(entry: dict[str, Any], key: str) -> dict[str, str]:
    value = entry.get(key) or {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise ValueError(f"'{key}' maps names to strings")
    return {str(k): str(interpolate(v)) for k, v in value.items()}


def _names(entry: dict[str, Any], key: str) -> frozenset[str]:
    value = entry.get(key) or []
    value = [value] if isinstance(value, str) else value
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"'{key}' is a list of tool names (or '*' for all)")
    return frozenset(value)
