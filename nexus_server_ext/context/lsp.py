"""``LanguageServers``: diagnostics and hover/definition facts from the servers jupyter-lsp manages.

jupyter-lsp (a server extension, installed with NEXUS) finds the language
servers on the machine (python-lsp-server out of the box; typescript-language-server,
and clangd, gopls and rust-analyzer through NEXUS's spec finders in ``lsp_specs.py``;
any other it detects or is configured with) and hangs its ``LanguageServerManager`` on the server
app (``serverapp.language_server_manager``). NEXUS asks that manager which server speaks the
code's language and runs that spec in a session of jupyter-lsp's own session
class, parented here: a process of its own, so the browser's session (which
JupyterLab initialises and owns) never sees NEXUS's requests or documents.
Client messages pass through the manager's listeners first, so jupyter-lsp's
virtual-document shadow writes files for servers that need them on disk.

Everything is asynchronous on the server's event loop (jupyter-lsp reads and
writes the process's pipes off the loop); a request waits at most
``timeout_s``. A server starts when the first request for its language comes, at
a lower CPU priority (pylsp needs seconds of CPU to start, which must not slow
the answer being generated), and a request waits at most ``start_wait_s`` for a
server still starting: that answer goes without diagnostics and the next one has
them. Without a server for the language the report says so plainly. Settings:
``c.LanguageServers.timeout_s``, ``start_wait_s`` and ``ignore_sources``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import time
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from traitlets import Float, List, Unicode
from traitlets.config import LoggingConfigurable

from .diagnostics import SEVERITY, Diagnostic, LspReport, SourceDocument
from .lsp_connection import START_TIMEOUT_S, ServerConnection, text_of_hover

log = logging.getLogger(__name__)

DIAGNOSTICS_LIMIT = 20


def low_priority(argv: list[str]) -> list[str]:
    """``argv`` run under ``nice`` where there is one: a starting server yields the CPU to generation."""
    nice = shutil.which("nice") if os.name == "posix" else None
    return [nice, "-n", "10", *argv] if nice and argv and argv[0] != nice else list(argv)


class LanguageServers(LoggingConfigurable):
    """The AI context's way to the language servers jupyter-lsp knows (see the module docstring)."""

    timeout_s = Float(
        4.0,
        help="Seconds a chat request waits for the language server (jupyter-lsp) to report diagnostics "
        "and hover/definition facts once the server runs.",
    ).tag(config=True)
    start_wait_s = Float(
        0.0,
        help="Seconds a chat request waits for a language server that is still starting (it starts with "
        "the first question about code in its language, at a lower CPU priority). 0: that answer goes "
        "without diagnostics and says so; the next one has them.",
    ).tag(config=True)
    ignore_sources = List(
        Unicode(),
        default_value=["pycodestyle", "pydocstyle", "mccabe", "autopep8", "yapf"],
        help="Diagnostic sources (style checkers) left out of the AI context; bugs matter there, not style.",
    ).tag(config=True)

    def __init__(self, serverapp: Any, **kwargs: Any) -> None:
        """``kwargs``: ``parent``/``config`` or the settings (``timeout_s=60``)."""
        super().__init__(**kwargs)
        self.serverapp = serverapp
        self._connections: dict[str, ServerConnection] = {}
        self._starting: dict[str, asyncio.Task[None]] = {}
        self._awaiting_discovery: dict[str, asyncio.Task[None]] = {}  # language -> start once found

    @property
    def manager(self) -> Any:
        """jupyter-lsp's ``LanguageServerManager`` (None when jupyter-lsp is not enabled)."""
        return getattr(self.serverapp, "language_server_manager", None)

    async def _manager_ready(self, timeout: float) -> bool:
        """jupyter-lsp detects the installed servers on a thread after the server starts."""
        ready = getattr(self.manager, "ready", None)
        if ready is None:
            return True
        try:
            await asyncio.wait_for(ready(), timeout)
            return True
        except asyncio.TimeoutError:
            return False

    @property
    def root(self) -> Path:
        return Path(getattr(self.serverapp, "root_dir", None) or ".").resolve()

    def server_for(self, language: str) -> tuple[str, dict[str, Any]] | None:
        """The first (by name) installed server whose spec lists ``language``."""
        manager = self.manager
        if manager is None:
            return None
        wanted = language.lower()
        for key, spec in sorted((manager.language_servers or {}).items()):
            if wanted in [str(lang).lower() for lang in spec.get("languages", [])]:
                return key, dict(spec)
        return None

    def _start_when_found(self, language: str) -> None:
        """Start the language's server once jupyter-lsp has found the installed ones (in the background)."""
        if language in self._awaiting_discovery:
            return

        async def start() -> None:
            if await self._manager_ready(START_TIMEOUT_S):
                found = self.server_for(language)
                if found is not None and found[0] not in self._connections:
                    self._connection(*found)

        self._awaiting_discovery[language] = asyncio.ensure_future(start())

    def _connection(self, key: str, spec: dict[str, Any]) -> ServerConnection:
        connection = self._connections.get(key)
        if connection is not None and connection.alive:
            return connection
        if connection is not None:
            connection.stop()
        from jupyter_lsp.session import LanguageServerSession

        manager = self.manager
        existing = (getattr(manager, "sessions", None) or {}).get(key)
        session_class = type(existing) if existing is not None else LanguageServerSession
        spec = {**spec, "argv": low_priority(list(spec.get("argv") or []))}
        connection = ServerConnection(self, key, spec, session_class)
        self._connections[key] = connection
        self._starting[key] = asyncio.ensure_future(connection.start(self.root.as_uri()))
        return connection

    async def on_server_message(self, message: str, session: Any) -> None:
        """jupyter-lsp's sessions call their parent with every message from the server."""
        for connection in list(self._connections.values()):
            if connection.session is session:
                await connection.on_server_message(message)

    def stop(self) -> None:
        for connection in self._connections.values():
            connection.stop()
        self._connections.clear()

    # -- what the context asks ----------------------------------------------------------------------
    def _uri(self, document: SourceDocument) -> str:
        """A file is shown as itself (its project's go.mod, tsconfig.json or compile_commands.json apply);
        notebook cells as a virtual document beside jupyter-lsp's own."""
        if not document.cell_starts:
            return (self.root / document.path).as_uri()
        manager = self.manager
        folder = str(getattr(manager, "virtual_documents_dir", "") or ".virtual_documents")
        name = f"{document.path}.nexus{document.extension or ''}"
        return (self.root / folder / name).as_uri()

    async def report(self, document: SourceDocument) -> LspReport:
        """Diagnostics in the current cell or file, and facts about the names on the current line."""
        if self.manager is None:
            return LspReport(note="jupyter-lsp is not enabled on this server, so there are no diagnostics.")
        if not await self._manager_ready(max(self.start_wait_s, 0.1)):  # it looks on a thread at start
            self._start_when_found(document.language)
            return LspReport(note="jupyter-lsp is still looking for language servers; ask again in a moment.")
        found = self.server_for(document.language)
        if found is None:
            return LspReport(
                note=f"No language server for {document.language} is installed (jupyter-lsp found none), "
                "so there are no diagnostics or type facts for this code."
            )
        connection = self._connection(*found)
        report = LspReport(server=connection.name)
        if not connection.ready.done():  # starting: this answer waits at most start_wait_s for it
            try:
                await asyncio.wait_for(asyncio.shield(connection.ready), max(self.start_wait_s, 0.001))
            except asyncio.TimeoutError:
                report.note = (
                    f"The {connection.name} language server is starting; "
                    "the next answer will have its diagnostics."
                )
                return report
            except Exception:
                pass  # reported just below
        failed = connection.ready.exception()
        if failed is not None:
            report.note = f"The {connection.name} language server could not start ({type(failed).__name__})."
            return report
        deadline = time.monotonic() + self.timeout_s
        uri = self._uri(document)
        async with connection.lock(uri):
            published = await connection.show(uri, document.language, document.text)
            # hover/definition while the server lints (pylsp waits 0.5 s before it does)
            facts = asyncio.ensure_future(self._facts(connection, uri, document, deadline))
            try:
                raw = await asyncio.wait_for(published, max(0.1, deadline - time.monotonic()))
                report.diagnostics = self._diagnostics(document, raw)
            except asyncio.TimeoutError:
                report.note = f"{connection.name} reported no diagnostics within {self.timeout_s:g} s."
            report.facts = await facts
        return report

    def _diagnostics(self, document: SourceDocument, raw: list[dict[str, Any]]) -> list[Diagnostic]:
        out = []
        for item in raw:
            start = item.get("range", {}).get("start", {})
            line = int(start.get("line", 0))
            source = str(item.get("source") or "")
            if not document.in_current(line) or source in self.ignore_sources:
                continue
            out.append(
                Diagnostic(
                    line - document.first_line + 1,
                    int(start.get("character", 0)) + 1,
                    SEVERITY.get(int(item.get("severity") or 1), "error"),
                    str(item.get("message", "")).strip(),
                    source,
                )
            )
        out.sort(key=lambda d: (d.severity != "error", d.line, d.column))
        return out[:DIAGNOSTICS_LIMIT]

    async def _facts(
        self, connection: ServerConnection, uri: str, document: SourceDocument, deadline: float
    ) -> list[str]:
        hover = bool(connection.capabilities.get("hoverProvider"))
        definition = bool(connection.capabilities.get("definitionProvider"))
        names = document.names_on_line() if hover or definition else []

        async def ask(method: str, line: int, column: int) -> Any:
            params = {"textDocument": {"uri": uri}, "position": {"line": line, "character": column + 1}}
            try:
                return await connection.request(method, params, max(0.05, deadline - time.monotonic()))
            except Exception:  # no answer in time, or the server refused: no fact
                return None

        async def fact(name: str, line: int, column: int) -> str | None:
            answers = await asyncio.gather(
                ask("textDocument/hover", line, column) if hover else asyncio.sleep(0),
                ask("textDocument/definition", line, column) if definition else asyncio.sleep(0),
            )
            about = text_of_hover((answers[0] or {}).get("contents")) if answers[0] else ""
            where = self._where(document, uri, answers[1])
            if not (about or where):
                return None
            parts = [f"`{name}`"] + ([about] if about else []) + ([f"defined at {where}"] if where else [])
            return ": ".join(parts[:2]) + ("; " + parts[2] if len(parts) > 2 else "")

        found = await asyncio.gather(*(fact(*n) for n in names))
        return [f for f in found if f]

    def _where(self, document: SourceDocument, uri: str, answer: Any) -> str | None:
        locations = answer if isinstance(answer, list) else [answer] if answer else []
        if not locations or not isinstance(locations[0], dict):
            return None
        first = locations[0]
        target = str(first.get("uri") or first.get("targetUri") or "")
        span = first.get("range") or first.get("targetSelectionRange") or {}
        line = int(span.get("start", {}).get("line", 0))
        if target == uri:
            where = document.place(line)
            return f"{where} of {document.path}" if document.cell_starts else f"{document.path} {where}"
        path = Path(unquote(urlparse(target).path))
        try:
            shown = path.relative_to(self.root).as_posix()
        except ValueError:
            shown = "/".join(path.parts[-3:])
        return f"{shown} line {line + 1}"


class StandaloneLanguageServers:
    """The same reports without a Jupyter server (benchmarks, scripts): jupyter-lsp's manager on its
    own, its sessions on a private event loop in a daemon thread; ``report`` blocks."""

    def __init__(self, root: str | Path, timeout_s: float = 30.0) -> None:
        import threading
        from types import SimpleNamespace

        from jupyter_lsp import LanguageServerManager

        manager = LanguageServerManager()
        manager.initialize()
        host = SimpleNamespace(language_server_manager=manager, root_dir=str(root))
        self.servers = LanguageServers(
            host, timeout_s=timeout_s, start_wait_s=timeout_s, ignore_sources=["pycodestyle", "mccabe"]
        )
        self._loop = asyncio.new_event_loop()
        threading.Thread(target=self._loop.run_forever, name="nexus-lsp", daemon=True).start()

    def report(self, document: SourceDocument) -> LspReport:
        future = asyncio.run_coroutine_threadsafe(self.servers.report(document), self._loop)
        return future.result(timeout=self.servers.timeout_s + START_TIMEOUT_S)

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self.servers.stop)
