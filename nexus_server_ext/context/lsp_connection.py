"""``ServerConnection``: one language server process in a jupyter-lsp session, spoken to over JSON-RPC.

The session is jupyter-lsp's own class (stdio or TCP, as the manager would make
it), parented by ``LanguageServers``, which jupyter-lsp's session calls with every
message from the server. Client messages go through the manager's listeners
first (jupyter-lsp's virtual-document shadow writes files for servers that read
documents from disk). Requests from the server (configuration, capability
registration) are answered, so the server never waits on NEXUS. Documents stay
open and are updated with ``didChange``; the diagnostics a request waits for
are those of its own document version. A server that does not say which version
its diagnostics are for (typescript-language-server, gopls) may publish several
times for one change (syntax first, then types): its diagnostics are taken once
it has been quiet for ``QUIET_S`` (twice that after an empty list).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

if TYPE_CHECKING:
    from .lsp import LanguageServers

log = logging.getLogger(__name__)

START_TIMEOUT_S = 60.0
OPEN_DOCUMENTS = 16  # per server; the oldest is closed beyond this
QUIET_S = 0.5  # an unversioned publish is final after this long without another


def text_of_hover(contents: Any) -> str:
    """The first meaningful line(s) of an LSP hover (MarkupContent, MarkedString or a list of them)."""
    if isinstance(contents, list):
        parts = [text_of_hover(c) for c in contents]
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
        self._quiet: dict[str, asyncio.TimerHandle] = {}  # uri -> an unversioned publish to take
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
                            # related information: clangd keeps its notes out of the message
                            "publishDiagnostics": {"versionSupport": True, "relatedInformation": True},
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
        for timer in self._quiet.values():
            timer.cancel()

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
        if version is None:  # final once the server has said nothing more about the document for a while
            timer = self._quiet.pop(uri, None)
            if timer is not None:
                timer.cancel()
            quiet = QUIET_S if diagnostics else 2 * QUIET_S  # an empty list is often only the syntax pass
            loop = asyncio.get_running_loop()
            self._quiet[uri] = loop.call_later(quiet, self._resolve, uri, None, diagnostics)
            return
        self._resolve(uri, version, diagnostics)

    def _resolve(self, uri: str, version: int | None, diagnostics: list[dict[str, Any]]) -> None:
        self._quiet.pop(uri, None)
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
        stale = self._quiet.pop(uri, None)  # what the server said about the text before this one
        if stale is not None:
            stale.cancel()
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
