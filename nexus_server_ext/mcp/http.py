"""``/nexus/mcp``: the MCP Streamable HTTP endpoint, served by the Jupyter server itself.

No port of its own and no auth of its own: the handler is a NEXUS handler like
every REST route (``nexus:agent``; a Jupyter token in ``Authorization: token ...``
or ``Bearer ...``, a JupyterHub identity, 403 without one), and only then hands
the request to the MCP SDK's session manager through a small ASGI bridge. The
bridge streams what the SDK sends (SSE answers, with their keep-alive pings, so
a call that waits minutes for the user's approval stays open), and tells the SDK
when the client goes away. Importing this module does not import the SDK.
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar, Literal

from jupyter_server.auth.decorator import authorized
from jupyter_server.utils import ensure_async
from tornado import web
from tornado.iostream import StreamClosedError

from ..collab.access import check_notebook_access
from ..errors import NexusError, format_size
from ..handlers.agent import AgentHandler, display_name
from ..handlers.base import Operation

# Framing headers tornado writes itself (chunked or a length) for what the SDK sends.
HOP_BY_HOP = frozenset({b"content-length", b"transfer-encoding", b"connection", b"keep-alive"})

DESCRIPTION = (
    "The NEXUS agent's notebook tools for outside agents (Claude Code, Codex, any MCP client), over MCP's "
    "Streamable HTTP transport: JSON-RPC messages (`initialize`, `tools/list`, `tools/call`...) as the MCP "
    "specification defines them, not a REST resource. Authenticate as for every NEXUS route "
    "(`Authorization: token <Jupyter token>`); a session (`Mcp-Session-Id`) belongs to the user who opened "
    "it. Each `tools/call` draws from the `chat` rate limit and is a step of the client's agent turn in that "
    "notebook (approval, audit, undo as for NEXUS's own agent)."
)


class MCPHandler(AgentHandler):
    """One HTTP request of an MCP client, authenticated and authorised, then served by the SDK."""

    audit_requests = False  # each tool call writes its own agent.tool row (who, tool, notebook, outcome)
    operations: ClassVar[dict[str, Operation]] = {
        "post": Operation("Send one MCP JSON-RPC message (MCP Streamable HTTP).", description=DESCRIPTION),
        "get": Operation("Open the MCP session's stream of server messages (SSE).", description=DESCRIPTION),
        "delete": Operation("End an MCP session (`Mcp-Session-Id`).", description=DESCRIPTION),
    }

    _gone: asyncio.Event | None = None

    @web.authenticated
    @authorized
    async def post(self) -> None:
        await self._serve()

    @web.authenticated
    @authorized
    async def get(self) -> None:
        await self._serve()

    @web.authenticated
    @authorized
    async def delete(self) -> None:
        await self._serve()

    def on_connection_close(self) -> None:
        self._client_gone()

    def on_finish(self) -> None:
        self._client_gone()
        super().on_finish()

    def _client_gone(self) -> None:
        if self._gone is not None:
            self._gone.set()

    async def _serve(self) -> None:
        from .server import Caller, mcp_for

        limit = self.nexus.config.max_body_bytes
        body = self.request.body or b""
        if len(body) > limit:
            raise NexusError(
                413,
                "payload_too_large",
                f"The MCP message is {format_size(len(body))}; the limit is {format_size(limit)}.",
            )
        server = mcp_for(self.agent, limit)
        caller = Caller(
            username=self.username,
            display_name=display_name(self),
            check_notebook=self._check_notebook,
            check_rate_limit=lambda: self.check_rate_limit(1.0, endpoint_class="chat"),
            is_authorized=self._is_authorized,
        )
        self._gone = asyncio.Event()
        await server.handle(self._scope(), self._receive(), self._send, caller)
        if self._finished or self._gone.is_set():  # answered, or nobody is left to answer
            return
        if not self._headers_written:
            raise NexusError(500, "internal_error", "The MCP server sent no answer.")
        self.finish()

    async def _check_notebook(self, path: str, action: Literal["read", "write"]) -> str:
        return await check_notebook_access(self, path, action)

    async def _is_authorized(self, action: str, resource: str) -> bool:
        allowed = self.authorizer.is_authorized(self, self.current_user, action, resource)
        return bool(await ensure_async(allowed))

    # -- the ASGI bridge -----------------------------------------------------------------------------
    def _scope(self) -> dict[str, Any]:
        request = self.request
        return {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.4"},
            "http_version": request.version.removeprefix("HTTP/") or "1.1",
            "method": request.method or "GET",
            "scheme": request.protocol,
            "path": request.path,
            "raw_path": request.path.encode("latin-1", "replace"),
            "query_string": (request.query or "").encode("latin-1", "replace"),
            "root_path": "",
            "headers": [
                (name.lower().encode("latin-1"), value.encode("latin-1", "replace"))
                for name, value in request.headers.get_all()
            ],
            "client": (request.remote_ip or "", 0),
            "server": None,
            "state": {},
        }

    def _receive(self) -> Any:
        """The request body once, then (when the SDK asks again) the client's disconnect."""
        sent = False
        body = self.request.body or b""

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            assert self._gone is not None
            await self._gone.wait()
            return {"type": "http.disconnect"}

        return receive

    async def _send(self, message: dict[str, Any]) -> None:
        if self._finished or (self._gone is not None and self._gone.is_set()):
            return  # the client left: what is still sent goes nowhere
        if message["type"] == "http.response.start":
            self.set_status(int(message["status"]))
            seen: set[bytes] = set()
            for raw_name, raw_value in message.get("headers", []):
                name = bytes(raw_name).lower()
                if name in HOP_BY_HOP:
                    continue
                value = bytes(raw_value).decode("latin-1")
                if name in seen:
                    self.add_header(name.decode("latin-1"), value)
                else:
                    self.set_header(name.decode("latin-1"), value)
                seen.add(name)
            if self._headers.get("Content-Type", "").startswith("text/event-stream"):
                await self._flush()  # a stream: the client sees it open now, not at the first event
        elif message["type"] == "http.response.body":
            chunk = bytes(message.get("body", b""))
            if chunk:
                self.write(chunk)
            if message.get("more_body", False):
                await self._flush()  # an SSE event (or ping) reaches the client now
            else:
                try:
                    await self.finish(set_content_type=self._headers.get("Content-Type", "application/json"))
                except StreamClosedError:
                    self._client_gone()

    async def _flush(self) -> None:
        try:
            await self.flush()
        except StreamClosedError:
            self._client_gone()


default_handlers = [(r"/nexus/mcp", MCPHandler)]
