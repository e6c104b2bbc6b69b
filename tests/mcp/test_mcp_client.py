"""NEXUS as an MCP client: real MCP servers (``servers/``, written with the SDK) over stdio and HTTP,
a real Jupyter server, and a scripted tool-calling model driving the agent."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nexus_server_ext.agent.tools import ToolError, ToolRegistry
from nexus_server_ext.mcp.client import SERVERS_FILE_ENV, MCPServers, tool_name
from tests.agent.conftest import (
    call,
    decide,
    ended,
    open_kernel,
    start_run,
    steps_script,
    tool_results,
    wait_run,
    waiting,
    write_notebook,
)
from tests.support.processes import stop
from tests.support.scripted_models import ScriptedModelServer, scripted_routing

SERVERS = Path(__file__).parent / "servers"


def stdio(script: str, **entry: Any) -> dict[str, Any]:
    return {"command": [sys.executable, str(SERVERS / script)], **entry}


@pytest.fixture(autouse=True)
def _no_admin_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SERVERS_FILE_ENV, raising=False)


@pytest.fixture
def model() -> Iterator[ScriptedModelServer]:
    with ScriptedModelServer([{"text": "Nothing to do."}]) as server:
        yield server


@pytest.fixture
def mcp_servers() -> dict[str, Any]:
    return {"demo": stdio("demo.py", tools=["add", "shout"], read_only=["shout"])}


@pytest.fixture
def jp_server_config(nexus_config: Any, model: ScriptedModelServer, mcp_servers: dict[str, Any]) -> Any:
    return nexus_config(
        routing=scripted_routing(model),
        other={
            "AgentService": {"run_timeout_s": 30.0},
            "MCPServers": {"servers": mcp_servers, "check_interval_s": 0.3},
        },
    )


async def connected(nexus_services: Any) -> MCPServers:
    """The server's MCP client once every configured server has connected or failed."""
    await nexus_services.ready()
    servers = nexus_services.mcp_servers
    assert servers is not None
    await servers.settle(60)
    return servers


async def mcp_status(jp_fetch: Any) -> dict[str, Any]:
    reply = await jp_fetch("nexus", "api", "v1", "status")
    return next(c for c in json.loads(reply.body)["components"] if c["name"] == "mcp")


def state_of(servers: MCPServers, name: str) -> dict[str, Any]:
    return next(s for s in servers.describe() if s["name"] == name)


async def test_mcp_agent_gets_only_the_allowed_tools_and_others_are_refused(
    jp_fetch: Any, nexus_services: Any
) -> None:
    servers = await connected(nexus_services)
    registry = nexus_services.agent.tools
    # The demo server offers six tools; the allow list names two, and only those reach the agent.
    assert [n for n in registry.names() if n.startswith("mcp__")] == ["mcp__demo__add", "mcp__demo__shout"]
    add = registry.get("mcp__demo__add")
    assert add.kind == "run" and add.description == "[demo via MCP] Add two integers."
    assert add.parameters["properties"].keys() == {"a", "b"} and add.parameters["required"] == ["a", "b"]
    assert registry.get("mcp__demo__shout").kind == "read"  # the admin marked it read-only
    reply = await jp_fetch("nexus", "api", "v1", "agent", "tools")
    listed = {t["name"]: t for t in json.loads(reply.body)["tools"]}
    assert listed["mcp__demo__add"]["kind"] == "run" and listed["mcp__demo__shout"]["kind"] == "read"
    assert "mcp__demo__secret" not in listed

    # A call to a tool that is not on the allow list is refused before it reaches the server.
    with pytest.raises(ToolError, match="'secret' of the MCP server 'demo' is not on the administrator's"):
        await servers.call("demo", "secret", {})
    with pytest.raises(ToolError, match="no MCP server named 'elsewhere'"):
        await servers.call("elsewhere", "add", {"a": 1, "b": 2})
    assert (await servers.call("demo", "add", {"a": 2, "b": 3})).result == "2 + 3 = 5"
    status = await mcp_status(jp_fetch)
    assert status["state"] == "ok" and status["detail"] == "demo: connected, 2 tools"
    # The model dashboard's view: each server with its allowed tools and what asks for approval.
    (server,) = json.loads((await jp_fetch("nexus", "api", "v1", "status")).body)["mcp_servers"]
    assert (server["name"], server["transport"], server["state"], server["last_error"]) == (
        "demo",
        "stdio",
        "connected",
        None,
    )
    assert {t["tool"]: t["kind"] for t in server["tools"]} == {"add": "run", "shout": "read"}


async def test_mcp_tool_call_in_an_agent_turn_asks_and_its_result_reaches_the_model(
    jp_fetch: Any, jp_root_dir: Path, model: ScriptedModelServer, nexus_services: Any
) -> None:
    await connected(nexus_services)
    write_notebook(jp_root_dir, "sums.ipynb", ["x = 1"])
    await open_kernel(jp_fetch, "sums.ipynb")
    model.script = steps_script(
        call("mcp__demo__add", a=2, b=40),
        call("mcp__demo__shout", text="the answer is 42"),
        {"text": "2 + 40 is 42."},
    )
    run = await start_run(jp_fetch, "sums.ipynb", "Add 2 and 40 with the demo tools", mode="auto_edits")

    # An outside action asks even in auto_edits; the card shows the arguments.
    run = await wait_run(jp_fetch, run["id"], waiting)
    step = next(s for s in run["steps"] if s["id"] == run["pending"][0])
    assert step["tool"] == "mcp__demo__add" and step["status"] == "pending"
    assert json.loads(step["code"]) == {"a": 2, "b": 40}
    assert step["summary"] == "call add on the MCP server demo"
    await decide(jp_fetch, run, "approve")
    run = await wait_run(jp_fetch, run["id"], ended)

    assert run["state"] == "done", run["reason"]
    assert [(s["tool"], s["status"]) for s in run["steps"]] == [
        ("mcp__demo__add", "done"),
        ("mcp__demo__shout", "done"),
    ]
    assert run["steps"][0]["result"] == "2 + 40 = 42" and run["steps"][0]["approved_by"]
    assert run["steps"][1]["approved_by"] is None  # read-only: it never asked
    # What the real MCP server answered is what the model read.
    assert tool_results(model.messages()) == ["2 + 40 = 42", "THE ANSWER IS 42"]
    assert run["steps"][1]["summary"] == "shout on demo answered: THE ANSWER IS 42"


@pytest.mark.parametrize(
    "mcp_servers",
    [
        {
            "crash": stdio("crash.py", tools=["*"]),
            "broken": {"url": "ftp://nowhere.example", "tools": ["*"]},
            "fragile": stdio("demo.py", tools=["add", "die"]),
            "victim": stdio("demo.py", tools=["add", "pid"]),
            "demo": stdio("demo.py", tools=["add"]),
        }
    ],
)
async def test_mcp_servers_that_crash_or_die_are_reported_and_nexus_keeps_working(
    jp_fetch: Any, nexus_services: Any
) -> None:
    servers = await connected(nexus_services)
    status = await mcp_status(jp_fetch)
    assert status["state"] == "degraded"
    # The crash at start, with the server's own words from its stderr; the bad entry, with why.
    assert (
        "crash: failed: Connection closed; its stderr ends: crash: cannot read /etc/crash-mcp/config.toml"
        in status["detail"]
    )
    assert "broken: failed: misconfigured: 'url' is an http:// or https:// URL" in status["detail"]
    assert "demo: connected, 1 tool" in status["detail"]
    assert state_of(servers, "fragile")["state"] == state_of(servers, "victim")["state"] == "connected"

    # One dies during a call: the call says so, with its last words.
    with pytest.raises(
        ToolError, match=r"'fragile' stopped: Connection closed; its stderr ends: .*dying as asked"
    ):
        await servers.call("fragile", "die", {})
    assert state_of(servers, "fragile")["state"] == "failed"
    with pytest.raises(ToolError, match="'fragile' is not running: Connection closed"):
        await servers.call("fragile", "add", {"a": 1, "b": 1})
    # One is killed between calls: the health check notices.
    os.kill(int((await servers.call("victim", "pid", {})).result), signal.SIGKILL)
    deadline = time.monotonic() + 20
    while state_of(servers, "victim")["state"] != "failed":
        assert time.monotonic() < deadline, servers.describe()
        await asyncio.sleep(0.1)
    status = await mcp_status(jp_fetch)
    assert status["state"] == "degraded"
    assert "fragile: failed: Connection closed" in status["detail"]
    assert "victim: failed: Connection closed" in status["detail"]

    # NEXUS goes on: the agent's tools answer, the other server's tool still works.
    reply = await jp_fetch("nexus", "api", "v1", "agent", "tools")
    assert reply.code == 200 and "mcp__demo__add" in {t["name"] for t in json.loads(reply.body)["tools"]}
    assert (await servers.call("demo", "add", {"a": 20, "b": 22})).result == "20 + 22 = 42"


async def test_mcp_servers_file_replaces_the_configured_list(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = tmp_path / "mcp-servers.yaml"
    command = json.dumps([sys.executable, str(SERVERS / "demo.py")])
    admin.write_text(f"hub:\n  command: {command}\n  tools: [add]\n")  # YAML, as an admin writes it
    monkeypatch.setenv(SERVERS_FILE_ENV, str(admin))
    registry = ToolRegistry()
    users_own = {"mine": stdio("demo.py", tools=["*"])}
    servers = MCPServers(registry=registry, servers=users_own)
    try:
        assert [s["name"] for s in servers.describe()] == ["hub"]
        await servers.settle(60)
        assert registry.names() == ["mcp__hub__add"]
        assert (await servers.call("hub", "add", {"a": 1, "b": 2})).result == "1 + 2 = 3"
        with pytest.raises(ToolError, match="no MCP server named 'mine'"):
            await servers.call("mine", "add", {"a": 1, "b": 2})
    finally:
        await servers.aclose()

    # An unusable file means no servers at all, never the user's own list.
    monkeypatch.setenv(SERVERS_FILE_ENV, str(tmp_path / "missing.yaml"))
    servers = MCPServers(servers=users_own)
    assert servers.describe() == []
    status = servers.status()
    assert status.state == "degraded" and "missing.yaml) is unusable" in status.detail


def test_mcp_config_entries_are_checked_one_by_one() -> None:
    servers = MCPServers(
        servers={
            "ok": {
                "url": "https://mcp.example/mcp",
                "headers": {"Authorization": "Bearer ${NEXUS_NO_SUCH_VAR}"},
            },
            "both": {"url": "https://x.example", "command": ["x"]},
            "neither": {"tools": ["*"]},
            "shell": {"command": "rm -rf /"},
            "typo": {"command": ["x"], "tool": ["a"]},
            "bad name!": {"command": ["x"]},
        }
    )
    errors = {s["name"]: s["last_error"] for s in servers.describe()}
    one_of = "misconfigured: give exactly one of 'command' (a stdio server) and 'url' (Streamable HTTP)"
    assert errors == {
        "ok": None,
        "both": one_of,
        "neither": one_of,
        "shell": "misconfigured: 'command' is a list of strings, e.g. ['python', 'server.py']",
        "typo": "misconfigured: unknown keys ['tool'] (the keys are "
        "['command', 'cwd', 'env', 'headers', 'read_only', 'tools', 'url'])",
        "bad name!": "misconfigured: a server's name is 1-32 letters, digits, '_' or '-'",
    }
    ok = state_of(servers, "ok")
    assert ok["state"] == "idle" and ok["transport"] == "http" and ok["target"] == "https://mcp.example/mcp"
    assert tool_name("my-server", "files.read") == "mcp__my_server__files_read"
    assert len(tool_name("s" * 32, "t" * 80)) == 64
    off = MCPServers().status()  # nothing configured: off, which is not a problem
    assert off.state == "ok" and off.detail.startswith("no MCP servers configured")


@pytest.fixture
def http_demo() -> Iterator[str]:
    """The demo server over Streamable HTTP, on a free local port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, str(SERVERS / "demo.py"), "--http", str(port)], stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, (
                    "the HTTP demo server did not start"
                )
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        stop(proc)


async def test_mcp_server_over_http_adds_its_allowed_tools(http_demo: str) -> None:
    registry = ToolRegistry()
    servers = MCPServers(
        registry=registry,
        servers={"web": {"url": http_demo, "headers": {"X-Team": "nexus"}, "tools": ["add"]}},
    )
    try:
        await servers.settle(60)
        assert registry.names() == ["mcp__web__add"]
        assert (await servers.call("web", "add", {"a": 4, "b": 5})).result == "4 + 5 = 9"
        assert servers.status().detail == "web: connected, 1 tool"
    finally:
        await servers.aclose()
