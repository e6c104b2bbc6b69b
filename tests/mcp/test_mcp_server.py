"""NEXUS as an MCP server: the official MCP client against a real Jupyter server with NEXUS.

Everything is real: the server (``/nexus/mcp`` on Jupyter's own port, its token auth),
the MCP SDK's client over Streamable HTTP (and over stdio, through
``python -m nexus_server_ext.mcp``), the notebook file, its kernel, approvals
through the REST API, the audit log.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from nexus_server_ext.agent.run import drain_audits
from tests.agent.conftest import cells_of, open_kernel, write_notebook
from tests.support.identity import NotebookTeamAuthorizer, TeamIdentityProvider

INSERTED = re.compile(r"Inserted \w+ cell (\S+) at index")
NOTEBOOK_FREE = {"search_memory", "read_file"}


@pytest.fixture
def mcp_settings() -> dict[str, Any]:
    return {"approval_mode": "auto_edits"}


@pytest.fixture
def agent_settings() -> dict[str, Any]:
    return {}


@pytest.fixture
def jp_server_config(
    nexus_config: Any, mcp_settings: dict[str, Any], agent_settings: dict[str, Any]
) -> dict[str, Any]:
    # The server's own token signs in as alice (display name "Alice"); ``token user-bob`` as bob.
    return nexus_config(
        server={"identity_provider_class": TeamIdentityProvider, "authorizer_class": NotebookTeamAuthorizer},
        other={"NexusMCP": mcp_settings, "AgentService": {"run_timeout_s": 30.0, **agent_settings}},
    )


@pytest.fixture
def mcp_url(jp_fetch: Any, jp_http_port: int, jp_base_url: str) -> str:
    # jp_fetch: the HTTP server is listening
    return f"http://127.0.0.1:{jp_http_port}{jp_base_url.rstrip('/')}/nexus/mcp"


@pytest.fixture
def token(jp_serverapp: Any) -> str:
    return str(jp_serverapp.identity_provider.token)


@pytest.fixture
def stop_mcp(nexus_services: Any, jp_asyncio_loop: Any) -> Iterator[None]:
    """End the MCP server's sessions before the Jupyter server stops (as the extension's stop does)."""
    yield
    from nexus_server_ext.mcp.server import close_mcp

    jp_asyncio_loop.run_until_complete(close_mcp(nexus_services.agent))


@asynccontextmanager
async def mcp_client(
    url: str, headers: dict[str, str], name: str = "nexus-tests", mode: str = "auto"
) -> AsyncIterator[Any]:
    """The official MCP client over Streamable HTTP, sending ``headers`` (the Jupyter token)."""
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client
    from mcp.types import Implementation

    async with httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=300)) as http:
        transport = streamable_http_client(url, http_client=http)
        client = Client(transport, client_info=Implementation(name=name, version="1.0"), mode=mode)
        async with client:
            yield client


def text_of(result: Any) -> str:
    return "\n".join(block.text for block in result.content if block.type == "text")


async def runs_in(jp_fetch: Any, notebook: str) -> list[dict[str, Any]]:
    reply = await jp_fetch("nexus", "api", "v1", "agent", "runs", params={"notebook": notebook})
    return list(json.loads(reply.body)["runs"])


async def pending_step(jp_fetch: Any, notebook: str, timeout: float = 30) -> tuple[dict[str, Any], str]:
    """The turn in ``notebook`` once one of its steps waits for approval, and that step's id."""
    deadline = time.monotonic() + timeout
    while True:
        for run in await runs_in(jp_fetch, notebook):
            if run["pending"]:
                return run, run["pending"][0]
        assert time.monotonic() < deadline, "no step ever waited for approval"
        await asyncio.sleep(0.05)


async def decide(jp_fetch: Any, run_id: str, step_id: str, decision: str, reason: str | None = None) -> Any:
    body: dict[str, Any] = {"decision": decision, **({"reason": reason} if reason else {})}
    path = ("nexus", "api", "v1", "agent", "runs", run_id, "approvals", step_id)
    return await jp_fetch(*path, method="POST", body=json.dumps(body))


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"token {token}"}


# -- no kernel needed ------------------------------------------------------------------------------
async def test_mcp_lists_the_agent_tools_and_refuses_bad_calls_as_tool_errors(
    jp_fetch: Any, jp_root_dir: Path, mcp_url: str, token: str, stop_mcp: None
) -> None:
    reply = await jp_fetch("nexus", "api", "v1", "agent", "tools")
    rest = {t["name"]: t for t in json.loads(reply.body)["tools"]}
    (jp_root_dir / "notes.txt").write_text("the data lives in sales.csv\n")

    async with mcp_client(mcp_url, auth(token)) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        # The same registry as the REST API; a notebook tool names its notebook.
        assert set(tools) == set(rest)
        for name, tool in tools.items():
            schema = tool.input_schema
            if name in NOTEBOOK_FREE:
                assert "notebook" not in schema["properties"]
            else:
                assert (
                    "notebook" in schema["required"] and schema["properties"]["notebook"]["type"] == "string"
                )
            assert set(schema["properties"]) - {"notebook"} == set(rest[name]["parameters"]["properties"])
            assert tool.annotations.read_only_hint is (rest[name]["kind"] == "read")
        assert tools["delete_cell"].annotations.destructive_hint is True
        assert tools["insert_cell"].annotations.destructive_hint is False

        # What the schema or the server refuses is an error result; the session stays up.
        unknown = await client.call_tool("format_disk", {})
        assert unknown.is_error and "There is no tool named 'format_disk'" in text_of(unknown)
        no_notebook = await client.call_tool("insert_cell", {"source": "x = 1"})
        assert no_notebook.is_error and "notebook" in text_of(no_notebook)
        missing = await client.call_tool("read_notebook", {"notebook": "missing.ipynb"})
        assert missing.is_error and "There is no notebook 'missing.ipynb'" in text_of(missing)
        bad = await client.call_tool("read_file", {"path": 42})
        assert bad.is_error and "Invalid arguments for read_file" in text_of(bad)
        # A notebook that exists but has no kernel: the caller is told what to do.
        write_notebook(jp_root_dir, "idle.ipynb", ["x = 1"])
        idle = await client.call_tool("read_notebook", {"notebook": "idle.ipynb"})
        assert (
            idle.is_error
            and "no running kernel" in text_of(idle)
            and "open it in JupyterLab" in text_of(idle)
        )
        # Tools without a notebook work without a kernel.
        read = await client.call_tool("read_file", {"path": "notes.txt"})
        assert not read.is_error and "sales.csv" in text_of(read)
        assert len((await client.list_tools()).tools) == len(rest)


async def test_mcp_without_credentials_is_refused_like_every_route(
    jp_fetch: Any, mcp_url: str, token: str, stop_mcp: None
) -> None:
    import httpx2

    initialize = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "curl", "version": "1"},
        },
    }
    headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
    async with httpx2.AsyncClient(timeout=30) as http:
        for sent in ({}, {"Authorization": "token wrong"}):
            reply = await http.post(mcp_url, json=initialize, headers={**headers, **sent})
            assert reply.status_code == 403
            assert reply.json()["error"] == "forbidden"
        # With the token the same request opens a session.
        reply = await http.post(mcp_url, json=initialize, headers={**headers, **auth(token)})
        assert reply.status_code == 200 and reply.headers["mcp-session-id"]
        # A session belongs to the user who opened it: bob cannot use alice's.
        bob = {
            **headers,
            "Authorization": "token user-bob",
            "Mcp-Session-Id": reply.headers["mcp-session-id"],
        }
        listed = {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}
        assert (await http.post(mcp_url, json=listed, headers=bob)).status_code == 404

    with pytest.raises(Exception):  # noqa: B017 - the SDK wraps the HTTP 403 its own way
        async with mcp_client(mcp_url, {}) as client:
            await client.list_tools()


# -- a notebook with its kernel ----------------------------------------------------------------------
async def test_mcp_client_inserts_and_runs_a_cell_attributed_audited_and_undoable(
    jp_fetch: Any, jp_root_dir: Path, mcp_url: str, token: str, nexus_services: Any, stop_mcp: None
) -> None:
    path = write_notebook(jp_root_dir, "mcp.ipynb", ["numbers = list(range(10))"])
    await open_kernel(jp_fetch, "mcp.ipynb")
    # mode="legacy": the initialize handshake and a session, as Claude Code connects today
    async with mcp_client(mcp_url, auth(token), name="claude-code", mode="legacy") as client:
        # auto_edits: the insert needs no approval
        inserted = await client.call_tool(
            "insert_cell", {"notebook": "mcp.ipynb", "source": "print(sum(range(10)))"}
        )
        assert not inserted.is_error, text_of(inserted)
        found = INSERTED.search(text_of(inserted))
        assert found
        cell_id = found.group(1)
        # Arguments the tool's schema refuses: an error result, a failed step; the session goes on.
        bad = await client.call_tool("insert_cell", {"notebook": "mcp.ipynb", "source": 42})
        assert bad.is_error and "Invalid arguments for insert_cell: source" in text_of(bad)

        # Running code asks: the call waits until the step is approved through the REST API.
        call = asyncio.ensure_future(
            client.call_tool("run_cell", {"notebook": "mcp.ipynb", "cell_id": cell_id})
        )
        run, step_id = await pending_step(jp_fetch, "mcp.ipynb")
        assert not call.done()
        step = next(s for s in run["steps"] if s["id"] == step_id)
        assert step["tool"] == "run_cell" and step["code"] == "print(sum(range(10)))"
        await decide(jp_fetch, run["id"], step_id, "approve")
        ran = await asyncio.wait_for(call, 60)
        assert not ran.is_error, text_of(ran)
        assert "45" in text_of(ran)

        # Another client in the same notebook while this turn is open: refused in words.
        async with mcp_client(mcp_url, auth(token), name="codex") as other:
            busy = await other.call_tool("read_notebook", {"notebook": "mcp.ipynb"})
            assert busy.is_error and "already working in mcp.ipynb" in text_of(busy)

    # The file holds the cell and its output, attributed to the client.
    cells = cells_of(path)
    assert [c["source"] for c in cells] == ["numbers = list(range(10))", "print(sum(range(10)))"]
    assert cells[1]["outputs"][0]["text"] == "45\n"
    # (JupyterLab shows it as "NEXUS for Alice via claude-code")
    assert cells[1]["metadata"]["nexus"]["requested_by"] == "Alice"
    assert cells[1]["metadata"]["nexus"]["agent"] == "claude-code"
    # One turn, followed like NEXUS's own: its steps, who approved what; an audit row per call.
    (turn,) = await runs_in(jp_fetch, "mcp.ipynb")
    assert turn["client"] == "claude-code" and [s["tool"] for s in turn["steps"]] == [
        "insert_cell",
        "insert_cell",
        "run_cell",
    ]
    assert [s["status"] for s in turn["steps"]] == ["done", "failed", "done"]
    assert [s["approved_by"] for s in turn["steps"]] == ["auto", None, "Alice"]
    await drain_audits()
    events = await nexus_services.audit.query(action="agent.tool")
    assert sorted(e.details["tool"] for e in events) == ["insert_cell", "insert_cell", "run_cell"]
    assert all(e.resource == "mcp.ipynb" and e.details["run_id"] == turn["id"] for e in events)

    # The user stops the turn in JupyterLab and undoes it: the notebook is as it was.
    base = ("nexus", "api", "v1", "agent", "runs", turn["id"])
    await jp_fetch(*base, "stop", method="POST", body="")
    undone = json.loads((await jp_fetch(*base, "undo", method="POST", body="")).body)
    assert undone["state"] == "undone"
    assert [c["source"] for c in cells_of(path)] == ["numbers = list(range(10))"]


class TestAskEveryTime:
    @pytest.fixture
    def mcp_settings(self) -> dict[str, Any]:
        return {"approval_mode": "ask"}

    async def test_mcp_call_waits_for_approval_and_a_rejection_is_a_tool_error(
        self, jp_fetch: Any, jp_root_dir: Path, mcp_url: str, token: str, stop_mcp: None
    ) -> None:
        path = write_notebook(jp_root_dir, "ask.ipynb", ["x = 1"])
        await open_kernel(jp_fetch, "ask.ipynb")
        async with mcp_client(mcp_url, auth(token)) as client:  # the SDK's default (2026) protocol
            call = asyncio.ensure_future(
                client.call_tool("insert_cell", {"notebook": "ask.ipynb", "source": "y = 2"})
            )
            run, step_id = await pending_step(jp_fetch, "ask.ipynb")
            assert run["mode"] == "ask" and len(cells_of(path)) == 1  # nothing written before approval
            await asyncio.sleep(0.3)
            assert not call.done()
            await decide(jp_fetch, run["id"], step_id, "approve")
            approved = await asyncio.wait_for(call, 60)
            assert not approved.is_error and "Inserted code cell" in text_of(approved)
            assert [c["source"] for c in cells_of(path)] == ["x = 1", "y = 2"]
            assert cells_of(path)[1]["metadata"]["nexus"]["agent"] == "nexus-tests"

            call = asyncio.ensure_future(
                client.call_tool("delete_cell", {"notebook": "ask.ipynb", "cell_id": "x"})
            )
            # (a cell that does not exist: refused before anything asks)
            refused = await asyncio.wait_for(call, 30)
            assert refused.is_error
            first = cells_of(path)[0]["id"]
            call = asyncio.ensure_future(
                client.call_tool("delete_cell", {"notebook": "ask.ipynb", "cell_id": first})
            )
            run, step_id = await pending_step(jp_fetch, "ask.ipynb")
            await decide(jp_fetch, run["id"], step_id, "reject", "keep x")
            rejected = await asyncio.wait_for(call, 60)
            assert rejected.is_error
            assert "The user rejected this step; nothing was changed. Their reason: keep x" in text_of(
                rejected
            )
            assert [c["source"] for c in cells_of(path)] == ["x = 1", "y = 2"]
            # The session is still usable.
            read = await client.call_tool("read_notebook", {"notebook": "ask.ipynb"})
            assert not read.is_error and "y = 2" in text_of(read)


class TestTimeouts:
    @pytest.fixture
    def mcp_settings(self) -> dict[str, Any]:
        return {"approval_mode": "ask", "approval_timeout_s": 1.0, "turn_idle_s": 2.0}

    @pytest.fixture
    def agent_settings(self) -> dict[str, Any]:
        return {"max_steps": 3}

    async def test_mcp_unapproved_call_fails_cleanly_and_turns_end_by_limit_or_idleness(
        self, jp_fetch: Any, jp_root_dir: Path, mcp_url: str, token: str, stop_mcp: None
    ) -> None:
        path = write_notebook(jp_root_dir, "late.ipynb", ["x = 1"])
        await open_kernel(jp_fetch, "late.ipynb")
        async with mcp_client(mcp_url, auth(token)) as client:
            started = time.monotonic()
            late = await client.call_tool("insert_cell", {"notebook": "late.ipynb", "source": "y = 2"})
            assert 0.9 <= time.monotonic() - started < 20
            assert late.is_error and "nobody approved it" in text_of(late)
            assert len(cells_of(path)) == 1
            # The step was refused; the turn goes on, until its limit of steps: the next call opens
            # a new turn (the ended one can be undone in JupyterLab).
            for _ in range(3):
                read = await client.call_tool("read_notebook", {"notebook": "late.ipynb"})
                assert not read.is_error and "y = 2" not in text_of(read)
            first, second = sorted(await runs_in(jp_fetch, "late.ipynb"), key=lambda r: r["created_at"])
            assert first["state"] == "done" and "limit of 3 steps" in first["reason"]
            assert len(first["steps"]) == 3 and len(second["steps"]) == 1
            assert second["state"] == "running"
            # A client that stops calling: its turn ends after turn_idle_s.
            await asyncio.sleep(2.5)
            (second,) = [r for r in await runs_in(jp_fetch, "late.ipynb") if r["id"] == second["id"]]
            assert second["state"] == "done" and second["reason"] == "nexus-tests made no call for 2 s."
            assert second["can_undo"]


class TestJupyterToken:
    """Jupyter's own identity provider: the token as `token ...` or `Bearer ...` (what Codex sends)."""

    @pytest.fixture
    def jp_server_config(self, nexus_config: Any) -> dict[str, Any]:
        return nexus_config()

    async def test_mcp_accepts_the_jupyter_token_as_bearer(
        self, mcp_url: str, token: str, stop_mcp: None
    ) -> None:
        for header in (f"Bearer {token}", f"token {token}"):
            async with mcp_client(mcp_url, {"Authorization": header}) as client:
                assert "run_cell" in {t.name for t in (await client.list_tools()).tools}
        with pytest.raises(Exception):  # noqa: B017 - the SDK wraps the HTTP 403 its own way
            async with mcp_client(mcp_url, {"Authorization": "Bearer wrong"}) as client:
                await client.list_tools()


# -- stdio -----------------------------------------------------------------------------------------
async def test_mcp_stdio_proxy_round_trip(
    jp_fetch: Any, jp_root_dir: Path, jp_http_port: int, jp_base_url: str, token: str, stop_mcp: None
) -> None:
    from mcp import Client, StdioServerParameters
    from mcp.types import Implementation

    path = write_notebook(jp_root_dir, "stdio.ipynb", ["x = 1"])
    await open_kernel(jp_fetch, "stdio.ipynb")
    server = f"http://127.0.0.1:{jp_http_port}{jp_base_url}"

    def proxy(*extra: str, env: dict[str, str] | None = None) -> Client:
        params = StdioServerParameters(
            command=sys.executable, args=["-m", "nexus_server_ext.mcp", "--server", server, *extra], env=env
        )
        return Client(params, client_info=Implementation(name="stdio-tester", version="1.0"))

    async with proxy(env={"JUPYTER_TOKEN": token}) as client:
        names = {t.name for t in (await client.list_tools()).tools}
        assert {"insert_cell", "run_cell", "read_file"} <= names
        inserted = await client.call_tool("insert_cell", {"notebook": "stdio.ipynb", "source": "y = 2"})
        assert not inserted.is_error, text_of(inserted)
        bad = await client.call_tool("insert_cell", {"notebook": "stdio.ipynb"})
        assert bad.is_error and "'source' is a required property" in text_of(bad)
    assert cells_of(path)[1]["metadata"]["nexus"]["requested_by"] == "Alice"
    assert cells_of(path)[1]["metadata"]["nexus"]["agent"] == "stdio-tester"

    # A wrong token: a tool error that says so, and a listing that fails with the same words.
    async with proxy("--token", "wrong", env={}) as client:
        refused = await client.call_tool("read_file", {"path": ""})
        assert refused.is_error and "HTTP 403: the Jupyter server refused the token" in text_of(refused)
        with pytest.raises(Exception, match="refused the token"):
            await client.list_tools()


@pytest.mark.parametrize(
    ("given", "endpoint", "token"),
    [
        ("http://127.0.0.1:8888/", "http://127.0.0.1:8888/nexus/mcp", ""),
        ("http://127.0.0.1:8888/lab?token=abc", "http://127.0.0.1:8888/nexus/mcp", "abc"),
        (
            "https://hub.example.org/user/alice/lab/tree/x.ipynb",
            "https://hub.example.org/user/alice/nexus/mcp",
            "",
        ),
        ("https://hub.example.org/user/lab/", "https://hub.example.org/user/lab/nexus/mcp", ""),
        ("http://h:1/base%40/nexus/mcp", "http://h:1/base%40/nexus/mcp", ""),
    ],
)
def test_mcp_stdio_finds_the_endpoint_in_any_jupyter_url(given: str, endpoint: str, token: str) -> None:
    from nexus_server_ext.mcp.__main__ import endpoint_url

    assert endpoint_url(given) == (endpoint, token)
