"""``LanguageServers``: diagnostics and hover/definition facts from the servers jupyter-lsp manages.

jupyter-lsp (a server extension, installed with NEXUS) finds the language
servers on the machine (python-lsp-server out of the box; any other it detects
or is configured with) and hangs its ``LanguageServerManager`` on the server
app (``serverapp.language_server_manager``). NEXUS asks that manager which server speaks the
code's language and runs that spec in a session of jupyter-lsp's own session
class, parented here: a process of its own, so the browser's session (which
JupyterLab initialises and owns) never sees NEXUS's requests or documents.
Client messages pass through the manager's listeners first, so jupyter-lsp's
virtual-document shadow writes files for servers that need them on disk.

Everything is asynchronous on the server's event loop (jupyter-lsp reads and
writes the process's pipes off the loop); a request waits at most
``timeout_s``, and a server still starting is left to start in the background
and answers the next request. Without a server for the language the report says
so plainly.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from traitlets.config import LoggingConfigurable

from .diagnostics import SEVERITY, Diagnostic, LspReport, SourceDocument

log = logging.getLogger(__name__)

START_TIMEOUT_S = 60.0
OPEN_DOCUMENTS = 16  # per server; the oldest is closed beyond this
DIAGNOSTICS_LIMIT = 20


def _text_of_hover(contents: Any) -> str:
    """The first meaningful line(s) of an LSP hover (MarkupContent, MarkedString or a list of them)."""
    if isinstance(contents, list):
        parts = [_text_of_hover(c) for c in contents]
        return next((p for p in parts if p), "")
    value = contents.get("value", "") if isinstance(contents, dict) else str(contents or "")
    lines = [
        line.strip() for line in value.splitlines() if line.strip() and not line.strip().startswith("```")
    ]
    text = " ".join(lines[:2])
    return text if len(text) <= 200 else text[:197] + "..."


class ServerConnection:
    """One language server process, in a jupyter-lsp session, spoken to over JSON-RPC."""

    def __init__(self, owner: LanguageServers, key: str, spec: dict[str, Any], session_class: type) -> None:
        self.owner = owner
        self.key = key
        self.name = str(spec.get("display_name") or key)
        self.session = session_class(language_server=key, spec=spec, parent=owner)
        self.capabilities: dict[str, Any] = {}
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._ids = itertools.count(1)
        self._pending: dict[str, asyncio.Future[Any]] = {}
        self._published: dict[str, tuple[int | None, list[dict[str, Any]]]] = {}
        self._waiters: dict[str, list[tuple[int, asyncio.Future[list[dict[str, Any]]]]]] = {}
        self._open: OrderedDict[str, int] = OrderedDict()  # uri -> version
        self._locks: dict[str, asyncio.Lock] = {}

    # -- lifecycle ----------------------------------------------------------------------------------
    async def start(self, root_uri: str) -> None:
        try:
            self.session.initialize()  # starts the process and jupyter-lsp's reader/writer tasks
            result = await self.request(
                "initialize",
                {
                    "processId": None,
                    "rootUri": root_uri,
                    "clientInfo": {"name": "NEXUS"},
                    "capabilities": {
                        "textDocument": {
                            "synchronization": {"didSave": False},
                            "publishDiagnostics": {"versionSupport": True},
                            "hover": {"contentFormat": ["plaintext", "markdown"]},
                            "definition": {"linkSupport": False},
                        },
                        "workspace": {"configuration": True},
                    },
                    "workspaceFolders": [
                        {"uri": root_uri, "name": Path(unquote(urlparse(root_uri).path)).name}
                    ],
                },
                timeout=START_TIMEOUT_S,
            )
            self.capabilities = dict((result or {}).get("capabilities") or {})
            await self.notify("initialized", {})
            self.ready.set_result(None)
        except Exception as exc:
            log.warning("NEXUS could not start the language server %s: %s", self.key, exc)
            if not self.ready.done():
                self.ready.set_exception(exc)
            self.session.stop()

    def stop(self) -> None:
        self.session.stop()
        for future in self._pending.values():
            future.cancel()

    @property
    def alive(self) -> bool:
        failed = self.ready.done() and self.ready.exception() is not None
        process = getattr(self.session, "process", None)
        exited = process is not None and process.poll() is not None
        return not failed and not exited

    # -- JSON-RPC -----------------------------------------------------------------------------------
    async def _write(self, message: dict[str, Any]) -> None:
        text = json.dumps(message)
        manager = self.owner.manager
        listeners = getattr(manager, "wait_for_listeners", None)
        if listeners is not None:  # jupyter-lsp's client listeners (the virtual-document shadow)
            from jupyter_lsp.types import MessageScope

            await listeners(MessageScope.CLIENT, text, self.key)
        self.session.write(text)

    async def request(self, method: str, params: dict[str, Any], timeout: float) -> Any:
        request_id = f"nexus-{next(self._ids)}"
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        try:
            await self._write({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params})
            return await asyncio.wait_for(future, timeout)
        finally:
            self._pending.pop(request_id, None)

    async def notify(self, method: str, params: dict[str, Any]) -> None:
        await self._write({"jsonrpc": "2.0", "method": method, "params": params})

    async def on_server_message(self, text: str) -> None:
        try:
            message = json.loads(text)
        except ValueError:
            return
        if "method" not in message:  # a response to one of our requests
            future = self._pending.get(str(message.get("id")))
            if future is not None and not future.done():
                if "error" in message:
                    future.set_exception(RuntimeError(str(message["error"].get("message", "error"))))
                else:
                    future.set_result(message.get("result"))
        elif message["method"] == "textDocument/publishDiagnostics":
            self._publish(message.get("params") or {})
        elif "id" in message:  # a request from the server: answer it so it does not wait on us
            result: Any = None
            if message["method"] == "workspace/configuration":
                result = [None for _ in (message.get("params") or {}).get("items", [])]
            await self._write({"jsonrpc": "2.0", "id": message["id"], "result": result})

    def _publish(self, params: dict[str, Any]) -> None:
        uri, version = str(params.get("uri", "")), params.get("version")
        diagnostics = list(params.get("diagnostics") or [])
        self._published[uri] = (version, diagnostics)
        keep = []
        for wanted, future in self._waiters.get(uri, []):
            if future.done():
                continue
            if version is None or version >= wanted:
                future.set_result(diagnostics)
            else:
                keep.append((wanted, future))
        self._waiters[uri] = keep

    # -- documents ----------------------------------------------------------------------------------
    def lock(self, uri: str) -> asyncio.Lock:
        return self._locks.setdefault(uri, asyncio.Lock())

    async def show(self, uri: str, language: str, text: str) -> asyncio.Future[list[dict[str, Any]]]:
        """Open or update the document; the future resolves with the diagnostics of this version."""
        version = self._open.get(uri, 0) + 1
        future: asyncio.Future[list[dict[str, Any]]] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(uri, []).append((version, future))
        if uri in self._open:
            self._open.move_to_end(uri)
            self._open[uri] = version
            await self.notify(
                "textDocument/didChange",
                {"textDocument": {"uri": uri, "version": version}, "contentChanges": [{"text": text}]},
            )
        else:
            self._open[uri] = version
            await self.notify(
                "textDocument/didOpen",
                {"textDocument": {"uri": uri, "languageId": language, "version": version, "text": text}},
            )
            while len(self._open) > OPEN_DOCUMENTS:
                oldest, _ = self._open.popitem(last=False)
                await self.notify("textDocument/didClose", {"textDocument": {"uri": oldest}})
        return future


class LanguageServers(LoggingConfigurable):
    """The AI context's way to the language servers jupyter-lsp knows (see the module docstring)."""

    def __init__(
        self, serverapp: Any, *, timeout_s: float = 4.0, ignore_sources: list[str] | None = None, **kw: Any
    ) -> None:
        super().__init__(**kw)
        self.serverapp = serverapp
        self.timeout_s = timeout_s
        self.ignore_sources = set(ignore_sources or [])
        self._connections: dict[str, ServerConnection] = {}
        self._starting: dict[str, asyncio.Task[None]] = {}

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

    async def warm_up(self, language: str = "python") -> None:
        """Start the language's server in the background (the first chat should not wait for it)."""
        if self.manager is None or not await self._manager_ready(30.0):
            return
        found = self.server_for(language)
        if found is not None:
            self._connection(*found)

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
        manager = self.manager
        folder = str(getattr(manager, "virtual_documents_dir", "") or ".virtual_documents")
        name = f"{document.path}.nexus{document.extension or ''}"
        return (self.root / folder / name).as_uri()

    async def report(self, document: SourceDocument) -> LspReport:
        """Diagnostics in the current cell or file, and facts about the names on the current line."""
        if self.manager is None:
            return LspReport(note="jupyter-lsp is not enabled on this server, so there are no diagnostics.")
        if not await self._manager_ready(self.timeout_s):
            return LspReport(note="jupyter-lsp is still looking for language servers; ask again in a moment.")
        found = self.server_for(document.language)
        if found is None:
            return LspReport(
                note=f"No language server for {document.language} is installed (jupyter-lsp found none), "
                "so there are no diagnostics or type facts for this code."
            )
        connection = self._connection(*found)
        deadline = time.monotonic() + self.timeout_s
        report = LspReport(server=connection.name)
        try:
            await asyncio.wait_for(asyncio.shield(connection.ready), self.timeout_s)
        except asyncio.TimeoutError:
            report.note = f"The {connection.name} language server is still starting; ask again in a moment."
            return report
        except Exception as exc:
            report.note = f"The {connection.name} language server could not start ({type(exc).__name__})."
            return report
        uri = self._uri(document)
        async with connection.lock(uri):
            published = await connection.show(uri, document.language, document.text)
            try:
                raw = await asyncio.wait_for(published, max(0.1, deadline - time.monotonic()))
                report.diagnostics = self._diagnostics(document, raw)
            except asyncio.TimeoutError:
                report.note = f"{connection.name} reported no diagnostics within {self.timeout_s:g} s."
            report.facts = await self._facts(connection, uri, document, deadline)
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
            about = _text_of_hover((answers[0] or {}).get("contents")) if answers[0] else ""
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
