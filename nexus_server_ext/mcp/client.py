"""``MCPServers``: NEXUS as an MCP client; the allowed tools of the servers an admin lists join the agent.

Each configured server lives in one long-lived task (the SDK's transports must be entered and
left in the same task): connect, list the tools, register the allowed ones in the agent's
registry, then list them again every ``check_interval_s`` (the health check) until NEXUS stops.
A server that fails to start or dies is marked failed with its message (the error and the end
of its stderr) and NEXUS goes on; a call to one of its tools says it is not running. The SDK
(``mcp``) is imported off the event loop when the first server connects, never at server start.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from traitlets import Bool, Dict, Float
from traitlets.config import LoggingConfigurable

from .._version import __version__
from ..agent.outputs import clip
from ..agent.tools import Preview, Tool, ToolContext, ToolError, ToolOutcome, ToolRegistry
from ..api_models import ComponentStatus
from .config import ServerConfig, parse_server, tool_name
from .results import StderrTail, closed, outcome, reason

if TYPE_CHECKING:
    from mcp import Client
    from mcp.types import Tool as RemoteTool

SERVERS_FILE_ENV = "NEXUS_MCP_SERVERS_FILE"
STDERR_SHOWN = 600
MAX_RETRY_S = 900.0  # a server that never connected retries by itself, at most this far apart
ServerState = Literal["idle", "connecting", "connected", "failed", "stopped"]


# -- one server's connection --------------------------------------------------------------------------
@dataclass(eq=False)
class _Server:
    name: str
    config: ServerConfig | None  # None: a bad entry (``error`` says why)
    state: ServerState = "idle"
    error: str | None = None  # the last failure, kept after a reconnect
    tools: dict[str, RemoteTool] = field(default_factory=dict)  # the allowed tools it offers
    offered: int = 0  # tools it offers in all
    missing: list[str] = field(default_factory=list)  # allowed names it does not offer
    client: Client | None = None
    task: asyncio.Task[None] | None = None
    attempted_at: float = 0.0
    ever_connected: bool = False
    stopping: bool = False
    wake: asyncio.Event = field(default_factory=asyncio.Event)  # retry now / check health now / stop
    settled: asyncio.Event = field(default_factory=asyncio.Event)  # the current attempt has ended


# -- the service --------------------------------------------------------------------------------------
class MCPServers(LoggingConfigurable):
    """The MCP servers whose tools NEXUS's agent may call, and their health.

    ``c.MCPServers.servers`` maps a name to ``{"command": [...], "env": {...}, "cwd": ...}`` (a
    stdio server) or ``{"url": "https://...", "headers": {...}}`` (Streamable HTTP), plus
    ``"tools"``, the allow list (missing or empty allows nothing, ``"*"`` everything), and
    ``"read_only"``, the tools that never ask for approval. ``${VAR}`` in a command, an env or a
    header value reads the server's environment, so secrets stay out of config files; a stdio
    server gets only PATH, HOME and the like plus its ``env``, never NEXUS's own environment.

    Who decides: these are the Jupyter server's settings, so on a laptop its user does (their
    machine, their commands). On JupyterHub, the admin sets ``NEXUS_MCP_SERVERS_FILE`` for every
    user server (``c.Spawner.environment``): the JSON or YAML file it names holds the same mapping
    and REPLACES ``c.MCPServers.servers``, so nothing in a user's own config adds a command that
    runs on the node. An unreadable file means no servers at all, never the user's list.
    """

    enabled = Bool(True, help="Connect to the configured MCP servers (False: none, whatever is listed).").tag(
        config=True
    )
    servers = Dict(
        help="MCP servers whose tools the agent may call: name -> {'command': [...], 'env': {...}} or "
        "{'url': ..., 'headers': {...}}, with 'tools' (the allow list; '*' for all) and 'read_only' "
        "(tools that never ask). Replaced by the file that env NEXUS_MCP_SERVERS_FILE names, if set.",
    ).tag(config=True)
    call_timeout_s = Float(60.0, help="Seconds one MCP tool call may take before it is abandoned.").tag(
        config=True
    )
    connect_timeout_s = Float(30.0, help="Seconds an MCP server may take to start and list its tools.").tag(
        config=True
    )
    check_interval_s = Float(
        30.0, help="Seconds between health checks (a tools listing) of a connected MCP server."
    ).tag(config=True)
    retry_after_s = Float(
        60.0, help="A failed MCP server is tried again on the next call, at most this often."
    ).tag(config=True)

    def __init__(self, registry: ToolRegistry | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.registry = registry  # the agent's: allowed tools are added as servers list them
        self.file_error: str | None = None
        self._servers: dict[str, _Server] = {}
        self._registered: dict[str, tuple[str, str]] = {}  # agent tool name -> (server, tool)
        if self.enabled:
            self._load(self._configured())

    def _configured(self) -> dict[Any, Any]:
        """The admin's file when ``NEXUS_MCP_SERVERS_FILE`` is set, else ``c.MCPServers.servers``."""
        path = os.environ.get(SERVERS_FILE_ENV, "").strip()
        if not path:
            return dict(self.servers)
        import yaml

        try:
            raw = yaml.safe_load(Path(path).expanduser().read_text(encoding="utf-8")) or {}
        except (OSError, ValueError, yaml.YAMLError) as exc:
            raw = exc
        if not isinstance(raw, dict):
            what = raw if isinstance(raw, Exception) else "it is not a mapping of server names"
            self.file_error = f"{SERVERS_FILE_ENV} ({path}) is unusable: {what}"
            self.log.error("NEXUS: %s; no MCP servers are used", self.file_error)
            return {}
        return raw

    def _load(self, configured: dict[Any, Any]) -> None:
        for name, entry in configured.items():
            try:
                config = parse_server(name, entry)
            except ValueError as exc:
                self.log.error("NEXUS: the MCP server %r is misconfigured: %s", name, exc)
                self._servers[str(name)] = _Server(str(name), None, "failed", f"misconfigured: {exc}")
                continue
            if not config.tools:
                self.log.warning("NEXUS: the MCP server %r allows no tool: list them in its 'tools'", name)
            self._servers[name] = _Server(name, config)

    # -- lifetime ---------------------------------------------------------------------------------
    def start(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        """Connect every server in the background, on ``loop`` (callable from any thread) or the running
        one; with neither, the first call connects."""
        if not any(s.config for s in self._servers.values()):
            return
        if loop is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return
        loop.call_soon_threadsafe(self._start_all)

    def _start_all(self) -> None:
        for server in self._servers.values():
            if server.config is not None and server.task is None and not server.stopping:
                self._begin(server)
                server.task = asyncio.ensure_future(self._supervise(server))

    def _begin(self, server: _Server) -> None:
        server.state = "connecting"
        server.settled.clear()

    async def settle(self, timeout: float = 60.0) -> None:
        """Wait until every server's current attempt has connected or failed (tests, dashboards)."""
        self._start_all()
        waits = [s.settled.wait() for s in self._servers.values() if s.config is not None]
        if waits:
            await asyncio.wait_for(asyncio.gather(*waits), timeout)

    async def aclose(self) -> None:
        tasks = []
        for server in self._servers.values():
            server.stopping = True
            server.wake.set()
            if server.task is not None:
                tasks.append(server.task)
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=10)
            for task in pending:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _supervise(self, server: _Server) -> None:
        delay = self.retry_after_s
        try:
            await asyncio.to_thread(importlib.import_module, "mcp.client.client")
        except ImportError as exc:
            self._failed(server, f"the MCP SDK is not installed ({exc}): pip install mcp")
            server.settled.set()
            return
        while not server.stopping:
            await self._connect_once(server)
            if server.stopping:
                break
            # Failed: the next call wakes it (at most once per retry_after_s); a server that never
            # connected has no tools to call, so it also retries by itself, less and less often.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(server.wake.wait(), None if server.ever_connected else delay)
            delay = min(delay * 2, MAX_RETRY_S)
        server.state = "stopped"
        server.settled.set()

    async def _connect_once(self, server: _Server) -> None:
        config = server.config
        assert config is not None
        self._begin(server)
        server.attempted_at = time.monotonic()
        stderr = await StderrTail.open() if config.command else None
        try:
            async with contextlib.AsyncExitStack() as stack:
                async with asyncio.timeout(self.connect_timeout_s):
                    client = await stack.enter_async_context(self._client(config, stderr, stack))
                    listed = await _list_tools(client)
                if stderr is not None:
                    stderr.spawned()
                self._connected(server, client, listed)
                await self._keep_alive(server, client)
        except Exception as exc:  # an exception group from the SDK's task groups too
            words = await stderr.text() if stderr is not None else ""
            self._failed(server, reason(exc), words)
        finally:
            server.client = None
            if stderr is not None:
                stderr.close()
            server.settled.set()

    def _client(
        self, config: ServerConfig, stderr: StderrTail | None, stack: contextlib.AsyncExitStack
    ) -> Client:
        from mcp import Client
        from mcp.types import Implementation

        if stderr is not None:
            from mcp.client.stdio import StdioServerParameters, stdio_client

            params = StdioServerParameters(
                command=config.command[0], args=list(config.command[1:]), env=config.env, cwd=config.cwd
            )
            assert stderr.writer is not None
            transport = stdio_client(params, errlog=stderr.writer)
        else:
            import httpx2
            from mcp.client.streamable_http import streamable_http_client

            http = httpx2.AsyncClient(headers=config.headers, timeout=httpx2.Timeout(30.0, read=300.0))
            stack.push_async_callback(http.aclose)
            transport = streamable_http_client(config.url, http_client=http)
        return Client(transport, client_info=Implementation(name="nexus", version=__version__), cache=None)

    async def _keep_alive(self, server: _Server, client: Client) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(server.wake.wait(), self.check_interval_s)
            server.wake.clear()
            if server.stopping:
                return
            async with asyncio.timeout(self.call_timeout_s):  # the 2026 protocol has no ping
                self._listed(server, await _list_tools(client))

    def _connected(self, server: _Server, client: Client, listed: list[RemoteTool]) -> None:
        server.client, server.state, server.ever_connected = client, "connected", True
        self._listed(server, listed)
        server.settled.set()
        self.log.info(
            "NEXUS: MCP server %r connected; %d of its %d tools allowed",
            server.name,
            len(server.tools),
            server.offered,
        )
        if server.missing:
            self.log.warning("NEXUS: the MCP server %r offers no %s", server.name, ", ".join(server.missing))

    def _listed(self, server: _Server, listed: list[RemoteTool]) -> None:
        """The server's tools as it lists them now; allowed new ones join the agent's registry."""
        config = server.config
        assert config is not None
        offered = {t.name: t for t in listed}
        server.tools = {name: t for name, t in offered.items() if config.allows(name)}
        server.offered = len(offered)
        server.missing = sorted(n for n in config.tools - {"*"} if n not in offered)
        self._register(server)

    def _failed(self, server: _Server, reason: str, stderr: str = "") -> None:
        config = server.config
        redact = config.redact if config is not None else str
        # Its last lines, spaces collapsed (a rich traceback pads them), for the status line.
        lines = [" ".join(line.split()) for line in stderr.splitlines() if line.strip()]
        last = " | ".join(lines[-3:])[-STDERR_SHOWN:]
        server.error = redact(reason + (f"; its stderr ends: {last}" if last else ""))
        server.wake.clear()  # from here on, a wake means "try again"
        server.state = "failed"
        self.log.error("NEXUS: the MCP server %r failed: %s", server.name, redact(reason))
        if stderr:
            self.log.error("NEXUS: the MCP server %r wrote to stderr:\n%s", server.name, redact(stderr))

    # -- the agent's tools ------------------------------------------------------------------------
    def _register(self, server: _Server) -> None:
        """Add the server's allowed tools to the agent's registry (once; a relisted tool stays)."""
        if self.registry is None:
            return
        for remote in server.tools.values():
            name = tool_name(server.name, remote.name)
            owner = self._registered.get(name)
            if owner == (server.name, remote.name):
                continue
            if owner is not None or self.registry.get(name) is not None:
                self.log.error(
                    "NEXUS: MCP tool %r of %r clashes with the agent tool %s", remote.name, server.name, name
                )
                continue
            self.registry.register(self._agent_tool(server, remote, name))
            self._registered[name] = (server.name, remote.name)

    def _agent_tool(self, server: _Server, remote: RemoteTool, name: str) -> Tool:
        assert server.config is not None
        label, tool = server.name, remote.name
        read_only = tool in server.config.read_only

        async def handler(ctx: ToolContext, args: dict[str, Any]) -> ToolOutcome:
            return await self.call(label, tool, args)

        async def preview(ctx: ToolContext, args: dict[str, Any]) -> Preview:
            arguments = json.dumps(args, indent=2, ensure_ascii=False)
            return Preview(summary=f"call {tool} on the MCP server {label}", code=arguments)

        schema = dict(remote.input_schema) if isinstance(remote.input_schema, dict) else {}
        schema.setdefault("type", "object")
        about = clip(remote.description or remote.title or tool, 1000)
        kind: Literal["read", "run"] = "read" if read_only else "run"
        return Tool(name, f"[{label} via MCP] {about}", schema, kind, handler, None if read_only else preview)

    async def call(self, server: str, tool: str, arguments: dict[str, Any]) -> ToolOutcome:
        """Call ``tool`` on ``server`` if its allow list lets it. A refusal or a failure is a
        ``ToolError`` whose words the model (or any caller) reads; the tool's own error is a failed
        outcome."""
        entry = self._servers.get(server)
        if entry is None:
            known = ", ".join(self._servers) or "none"
            raise ToolError(f"There is no MCP server named {server!r} (configured: {known}).")
        if entry.config is None:
            raise ToolError(f"The MCP server {server!r} is {entry.error}.")
        if not entry.config.allows(tool):
            raise ToolError(
                f"Refused: the tool {tool!r} of the MCP server {server!r} is not on the administrator's "
                "allow list for that server."
            )
        client = await self._client_for(entry)
        try:
            async with asyncio.timeout(self.call_timeout_s):
                result = await client.call_tool(tool, arguments)
        except TimeoutError:
            raise ToolError(
                f"The MCP server {server!r} did not answer {tool} within {self.call_timeout_s:g} s."
            ) from None
        except Exception as exc:
            if closed(exc) and await self._died(entry, client):
                raise ToolError(f"The MCP server {server!r} stopped: {entry.error}") from None
            raise ToolError(f"The MCP server {server!r} could not run {tool}: {reason(exc)}") from None
        return outcome(server, tool, result)

    async def _client_for(self, entry: _Server) -> Client:
        if entry.state == "connected" and entry.client is not None:
            return entry.client
        if entry.task is None:  # never started (built without a loop): start now
            self._start_all()
        elif entry.state == "failed":
            wait = entry.attempted_at + self.retry_after_s - time.monotonic()
            if wait > 0:
                raise ToolError(
                    f"The MCP server {entry.name!r} is not running: {entry.error} "
                    f"(NEXUS tries it again in {wait:.0f} s)."
                )
            self._begin(entry)
            entry.wake.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(entry.settled.wait(), self.connect_timeout_s + 10)
        if entry.state == "connected" and entry.client is not None:
            return entry.client
        raise ToolError(f"The MCP server {entry.name!r} is not running: {entry.error or entry.state}.")

    async def _died(self, entry: _Server, client: Client) -> bool:
        """After a broken call: is the server gone? A dead one is marked failed (with its stderr)
        by its own task before this answers."""
        with contextlib.suppress(Exception):
            async with asyncio.timeout(5):
                await client.list_tools()
            return False
        entry.wake.set()  # its task checks now, fails, and says why
        deadline = time.monotonic() + 10
        while entry.state == "connected" and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        return entry.state == "failed"

    # -- status -----------------------------------------------------------------------------------
    def describe(self) -> list[dict[str, Any]]:
        """Each server for the model dashboard: name, transport, target, state, allowed tools,
        how many it offers, allowed names it lacks, and the last error (secrets redacted)."""
        out = []
        for s in list(self._servers.values()):
            config = s.config
            read_only = config.read_only if config is not None else frozenset()
            tools = [
                {"name": tool_name(s.name, t), "tool": t, "kind": "read" if t in read_only else "run"}
                for t in list(s.tools)
            ]
            out.append(
                {
                    "name": s.name,
                    "transport": config.transport if config else None,
                    "target": config.target if config else None,
                    "state": s.state,
                    "tools": tools,
                    "offered": s.offered,
                    "missing": list(s.missing),
                    "last_error": s.error,
                }
            )
        return out

    def status(self) -> ComponentStatus:
        """The ``mcp`` component of ``/status``: degraded while any server has failed."""
        # Off or not configured is a choice, not a problem: "ok", so the status bar does not call
        # NEXUS limited for an optional feature nobody asked for.
        if not self.enabled:
            return ComponentStatus(name="mcp", state="ok", detail="off (c.MCPServers.enabled is False)")
        if self.file_error:
            return ComponentStatus(name="mcp", state="degraded", detail=self.file_error)
        servers = self.describe()
        if not servers:
            return ComponentStatus(
                name="mcp",
                state="ok",
                detail="no MCP servers configured "
                f"(list them in c.MCPServers.servers, or the file {SERVERS_FILE_ENV} names)",
            )
        parts = []
        for s in servers:
            if s["state"] == "connected":
                count = len(s["tools"])
                parts.append(f"{s['name']}: connected, {count} tool{'' if count == 1 else 's'}")
            elif s["state"] == "failed":
                parts.append(f"{s['name']}: failed: {s['last_error']}")
            else:
                parts.append(f"{s['name']}: {s['state']}")
        failed = any(s["state"] == "failed" for s in servers)
        return ComponentStatus(name="mcp", state="degraded" if failed else "ok", detail="; ".join(parts))


async def _list_tools(client: Client) -> list[RemoteTool]:
    tools: list[RemoteTool] = []
    cursor: str | None = None
    for _ in range(100):  # a server whose pages never end cannot hang the connection
        page = await client.list_tools(cursor=cursor)
        tools += page.tools
        cursor = page.next_cursor
        if not cursor:
            break
    return tools


__all__ = ["MCPServers", "ServerConfig", "parse_server", "tool_name"]
