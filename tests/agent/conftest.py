"""Agent test fixtures: a real Jupyter server whose ``agent`` task is a scripted tool-calling model.

The model is a real local HTTP server speaking the OpenAI (or Anthropic) protocol
(``tests/support/scripted_models.py``); everything else is real: the server, the
notebook file, its kernel, the router, the audit log.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest

from tests.support.identity import NotebookTeamAuthorizer, TeamIdentityProvider
from tests.support.scripted_models import ScriptedModelServer, scripted_routing

BOB = {"Authorization": "token user-bob"}


@pytest.fixture
def model() -> Iterator[ScriptedModelServer]:
    """The scripted model; each test sets ``model.script``."""
    with ScriptedModelServer([{"text": "Nothing to do."}]) as server:
        yield server


@pytest.fixture
def protocol() -> str:
    return "openai"


@pytest.fixture
def agent_settings() -> dict[str, Any]:
    return {}


@pytest.fixture
def jp_server_config(
    nexus_config: Any, model: ScriptedModelServer, protocol: str, agent_settings: dict[str, Any]
) -> dict[str, Any]:
    return nexus_config(
        routing=scripted_routing(model, protocol),  # type: ignore[arg-type]
        server={"identity_provider_class": TeamIdentityProvider, "authorizer_class": NotebookTeamAuthorizer},
        other={"AgentService": {"run_timeout_s": 30.0, **agent_settings}},
    )


def write_notebook(root: Path, name: str, sources: list[str]) -> Path:
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(s) for s in sources]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = root / name
    nbformat.write(notebook, path)
    return path


def cells_of(path: Path) -> list[dict[str, Any]]:
    """The file's cells as nbformat reads them (sources as one string)."""
    return [dict(c) for c in nbformat.read(path, as_version=4).cells]


async def open_kernel(jp_fetch: Any, name: str) -> str:
    """Start the notebook's kernel as JupyterLab does (a session), and return its id."""
    reply = await jp_fetch(
        "api",
        "sessions",
        method="POST",
        body=json.dumps({"path": name, "name": name, "type": "notebook", "kernel": {"name": "python3"}}),
    )
    return str(json.loads(reply.body)["kernel"]["id"])


async def start_run(jp_fetch: Any, name: str, goal: str, mode: str = "ask", **kw: Any) -> dict[str, Any]:
    reply = await jp_fetch(
        "nexus",
        "api",
        "v1",
        "agent",
        "runs",
        method="POST",
        body=json.dumps({"notebook": name, "goal": goal, "mode": mode}),
        **kw,
    )
    assert reply.code == 201
    return dict(json.loads(reply.body))


async def get_run(jp_fetch: Any, run_id: str, **kw: Any) -> dict[str, Any]:
    reply = await jp_fetch("nexus", "api", "v1", "agent", "runs", run_id, **kw)
    return dict(json.loads(reply.body))


async def wait_run(
    jp_fetch: Any, run_id: str, until: Callable[[dict[str, Any]], bool], timeout: float = 60
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        run = await get_run(jp_fetch, run_id)
        if until(run):
            return run
        assert time.monotonic() < deadline, f"the turn never got there: {json.dumps(run, indent=1)[:3000]}"
        await asyncio.sleep(0.1)


def ended(run: dict[str, Any]) -> bool:
    return run["state"] in ("done", "failed", "stopped", "undone")


def waiting(run: dict[str, Any]) -> bool:
    return bool(run["pending"]) or ended(run)


async def decide(
    jp_fetch: Any, run: dict[str, Any], decision: str, reason: str | None = None, **kw: Any
) -> Any:
    step = run["pending"][0]
    body: dict[str, Any] = {"decision": decision}
    if reason:
        body["reason"] = reason
    return await jp_fetch(
        "nexus",
        "api",
        "v1",
        "agent",
        "runs",
        run["id"],
        "approvals",
        step,
        method="POST",
        body=json.dumps(body),
        **kw,
    )


async def approve_all(jp_fetch: Any, run: dict[str, Any], timeout: float = 90) -> dict[str, Any]:
    """Approve every step the turn asks about, one by one, until it ends."""
    while True:
        run = await wait_run(jp_fetch, run["id"], waiting, timeout)
        if ended(run):
            return run
        await decide(jp_fetch, run, "approve")
        await wait_run(jp_fetch, run["id"], lambda r, pending=run["pending"][0]: pending not in r["pending"])


INSERTED = re.compile(r"Inserted \w+ cell (\S+) at index")


def inserted_cell(messages: list[dict[str, Any]]) -> str:
    """The id of the last cell the agent inserted, read from the tool results it was given."""
    for message in reversed(messages):
        found = INSERTED.search(str(message.get("content") or ""))
        if message.get("role") == "tool" and found:
            return found.group(1)
    raise AssertionError("no insert_cell result in the conversation")


def tool_results(messages: list[dict[str, Any]]) -> list[str]:
    return [str(m.get("content") or "") for m in messages if m.get("role") == "tool"]


def call(name: str, **arguments: Any) -> dict[str, Any]:
    return {"tool_calls": [{"name": name, "arguments": arguments}]}


def steps_script(
    *steps: Callable[[list[dict[str, Any]]], dict[str, Any]] | dict[str, Any],
) -> Callable[..., Any]:
    """A script answering turn N with ``steps[N]`` (a turn, or a function of the conversation so far)."""

    def script(messages: list[dict[str, Any]]) -> dict[str, Any]:
        done = sum(1 for m in messages if m.get("role") == "assistant")
        step = steps[min(done, len(steps) - 1)]
        return step(messages) if callable(step) else step

    return script
