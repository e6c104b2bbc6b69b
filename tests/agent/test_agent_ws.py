"""Agent turns over the websocket: started, approved and undone by frames, followed live by collaborators."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.support.scripted_models import ScriptedModelServer

from .conftest import BOB, call, cells_of, open_kernel, steps_script, write_notebook

WS = ("nexus", "api", "v1", "ws")


async def read(ws: Any, timeout: float = 60) -> dict[str, Any]:
    message = await asyncio.wait_for(ws.read_message(), timeout)
    assert message is not None, "the socket closed"
    return dict(json.loads(message))


async def until(ws: Any, wanted: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """The first frame ``wanted`` accepts (others are skipped)."""
    while True:
        frame = await read(ws)
        if wanted(frame):
            return frame


def run_frame(state: str | None = None, pending: bool = False) -> Callable[[dict[str, Any]], bool]:
    def wanted(frame: dict[str, Any]) -> bool:
        if frame["type"] != "agent.run":
            return False
        run = frame["run"]
        return (state is None or run["state"] == state) and (not pending or bool(run["pending"]))

    return wanted


async def test_agent_turn_over_the_websocket_is_followed_by_collaborators(
    jp_ws_fetch: Any, jp_fetch: Any, jp_root_dir: Path, model: ScriptedModelServer
) -> None:
    path = write_notebook(jp_root_dir, "shared.ipynb", ["a = 1"])
    before = cells_of(path)
    await open_kernel(jp_fetch, "shared.ipynb")
    model.script = steps_script(call("insert_cell", source="b = a + 1"), {"text": "Added **b**."})
    alice = await jp_ws_fetch(*WS)
    bob = await jp_ws_fetch(*WS, headers=BOB)
    await bob.write_message(json.dumps({"type": "notebook.join", "path": "shared.ipynb"}))
    await until(bob, lambda f: f["type"] == "notebook.joined")

    await alice.write_message(
        json.dumps({"type": "agent.start", "id": "s1", "notebook": "shared.ipynb", "goal": "add b"})
    )
    waiting = await until(alice, run_frame(pending=True))
    run = waiting["run"]
    assert run["request_id"] == "s1" and run["client"] is None
    # Bob follows the same turn live, and sees the approval alice is asked for.
    seen = await until(bob, run_frame(pending=True))
    assert seen["run"]["id"] == run["id"] and seen["run"]["steps"][0]["diff"]
    # Bob cannot approve alice's step.
    step = run["pending"][0]
    approval = {"type": "agent.approval", "run_id": run["id"], "step_id": step, "decision": "approve"}
    await bob.write_message(json.dumps(approval))
    refused = await until(bob, lambda f: f["type"] == "error")
    assert refused["error"] == "forbidden" and refused["id"] == run["id"]

    await alice.write_message(json.dumps(approval))
    # The next frame shows the decision: nothing pending any more.
    decided = await until(alice, run_frame())
    assert decided["run"]["pending"] == [] and decided["run"]["steps"][0]["status"] != "pending"
    done = await until(alice, run_frame("done"))
    assert done["run"]["message"].strip() == "Added **b**."
    assert [c["source"] for c in cells_of(path)] == ["a = 1", "b = a + 1"]
    assert (await until(bob, run_frame("done")))["run"]["id"] == run["id"]

    await alice.write_message(json.dumps({"type": "agent.undo", "run_id": run["id"]}))
    undone = await until(alice, run_frame("undone"))
    assert undone["run"]["undo"]["cells_removed"] == 1
    assert cells_of(path) == before
    alice.close()
    bob.close()


async def test_agent_frames_refuse_bad_input_and_keep_the_socket(jp_ws_fetch: Any, jp_root_dir: Path) -> None:
    write_notebook(jp_root_dir, "idle.ipynb", ["1"])
    ws = await jp_ws_fetch(*WS)
    await ws.write_message(
        json.dumps({"type": "agent.start", "id": "k", "notebook": "idle.ipynb", "goal": "x"})
    )
    error = await until(ws, lambda f: f["type"] == "error")
    assert error["error"] == "no_kernel" and error["id"] == "k"
    await ws.write_message(json.dumps({"type": "agent.stop", "run_id": "feed"}))
    error = await until(ws, lambda f: f["type"] == "error")
    assert error["error"] == "not_found"
    # The chat's /agent, from a client that does not start turns itself, says how to.
    await ws.write_message(json.dumps({"type": "chat", "id": "c", "text": "/agent plot the sales"}))
    done = await until(ws, lambda f: f["type"] == "chat.delta" and f["id"] == "c")
    assert "/agent GOAL" in done["text"] and "agent/runs" in done["text"]
    ws.close()
