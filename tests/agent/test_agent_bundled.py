"""An agent turn on the bundled model (llama.cpp, constrained tool-call output), as a new user gets it.

The 135M model plans poorly; what must hold is that every call it makes is a real
tool call with arguments its schema accepts (or a clear tool error), that the
turn ends on its own within its limits, and that the notebook stays a valid,
attributed notebook that undo puts back exactly.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nbformat
import pytest

from tests.support.identity import NotebookTeamAuthorizer, TeamIdentityProvider

from .conftest import approve_all, cells_of, open_kernel, start_run, write_notebook


@pytest.fixture
def jp_server_config(nexus_config: Any) -> dict[str, Any]:
    """The shipped routing: no keys, so the agent task ends on the bundled local model."""
    return nexus_config(
        server={"identity_provider_class": TeamIdentityProvider, "authorizer_class": NotebookTeamAuthorizer},
        other={"AgentService": {"max_steps": 4, "max_seconds": 240.0, "run_timeout_s": 30.0}},
    )


async def test_agent_turn_on_the_bundled_model_ends_cleanly_and_undoes_exactly(
    jp_fetch: Any, jp_root_dir: Path
) -> None:
    path = write_notebook(jp_root_dir, "local.ipynb", ["x = 40"])
    await open_kernel(jp_fetch, "local.ipynb")
    before = cells_of(path)

    run = await start_run(
        jp_fetch, "local.ipynb", "Insert a code cell that prints x + 2, then run it.", "auto_edits"
    )
    run = await approve_all(jp_fetch, run, timeout=300)

    assert run["state"] in ("done", "failed"), run
    if run["state"] == "failed":  # a limit, never a crash
        assert run["reason"].startswith("The turn reached its limit") or "same arguments" in run["reason"]
    assert run["model"] == "local/SmolLM2-135M-Instruct"
    tools = {
        t["name"] for t in json.loads((await jp_fetch("nexus", "api", "v1", "agent", "tools")).body)["tools"]
    }
    for step in run["steps"]:
        assert step["tool"] in tools, step  # constrained output: only real tools
        assert step["status"] in ("done", "failed"), step
        if step["status"] == "failed":
            assert step["result"], step  # told to the model in words
    nbformat.validate(nbformat.read(path, as_version=4))
    for cell in cells_of(path)[len(before) :]:
        assert (cell["metadata"]["nexus"]["requested_by"], cell["metadata"]["nexus"]["agent"]) == (
            "Alice",
            "nexus",
        )

    reply = await jp_fetch("nexus", "api", "v1", "agent", "runs", run["id"], "undo", method="POST", body="")
    assert json.loads(reply.body)["state"] == "undone"
    assert json.dumps(cells_of(path), sort_keys=True) == json.dumps(before, sort_keys=True)
