"""Learning a folder is a scheduler task: progress on the event bus, listed and cancelled through /tasks."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from nexus_server_ext.events import LEARN, TASK


def body(response: Any) -> Any:
    return json.loads(response.body.decode())


def write_module(folder: Path, i: int) -> None:
    functions = "\n\n".join(
        f'def step_{i}_{j}(rows):\n    """Stage {j} of pipeline {i}: keep rows above {j * 7}."""\n'
        f"    return [r for r in rows if r > {j * 7}]\n"
        for j in range(8)
    )
    (folder / f"module_{i:03d}.py").write_text(functions)


class Bus:
    """Collects NEXUS events from the server's real EventLogger (emit validates them against the schemas)."""

    def __init__(self, serverapp: Any) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

        async def listener(logger: Any, schema_id: str, data: dict[str, Any]) -> None:
            self.events.append((schema_id, data))

        for schema in (TASK, LEARN):
            serverapp.event_logger.add_listener(schema_id=schema, listener=listener)

    def of(self, schema: str, **match: Any) -> list[dict[str, Any]]:
        return [d for s, d in self.events if s == schema and all(d.get(k) == v for k, v in match.items())]

    async def until(self, what: Any, timeout: float = 120) -> Any:
        for _ in range(int(timeout / 0.05)):
            found = what()
            if found:
                return found
            await asyncio.sleep(0.05)
        raise AssertionError(f"never happened; events so far: {self.events[-5:]}")


async def test_learning_reports_progress_and_is_cancelled_through_the_tasks_api(
    jp_fetch: Any, jp_root_dir: Path, jp_serverapp: Any
) -> None:
    bus = Bus(jp_serverapp)
    big = jp_root_dir / "pipelines"
    big.mkdir()
    for i in range(120):
        write_module(big, i)

    r = await jp_fetch("nexus/api/v1/memory/learn", method="POST", body=json.dumps({"path": "pipelines"}))
    assert r.code == 202
    job = body(r)
    task_id = job["task_id"]
    assert job["files_total"] == 120 and task_id

    # progress arrives on the bus while it runs: the task's fraction and message, and the file counts
    started = await bus.until(lambda: [e for e in bus.of(LEARN, task_id=task_id) if e["files_done"] >= 2])
    assert started[0]["target"] == "pipelines" and started[0]["trigger"] == "request"
    running = await bus.until(
        lambda: [e for e in bus.of(TASK, task_id=task_id, state="running") if e["progress"] > 0]
    )
    assert running[0]["kind"] == "learn" and "/120 files" in running[0]["message"]

    listed = body(await jp_fetch("nexus/api/v1/tasks"))["tasks"]
    assert [t["state"] for t in listed if t["id"] == task_id] == ["running"]

    cancelled = body(await jp_fetch("nexus/api/v1/tasks", task_id, "cancel", method="POST", body=""))
    assert cancelled["state"] == "cancelled"
    last = await bus.until(lambda: bus.of(LEARN, task_id=task_id, state="cancelled"))
    assert 2 <= last[-1]["files_done"] < 120  # it stopped part way, at a file boundary
    assert bus.of(TASK, task_id=task_id, state="cancelled")
    progress = body(await jp_fetch("nexus/api/v1/memory/learn", job["id"]))
    assert progress["state"] == "cancelled" and progress["files_done"] < 120
    done_before = progress["files_done"]
    await asyncio.sleep(1.0)  # nothing more is indexed after the cancel
    assert body(await jp_fetch("nexus/api/v1/memory/learn", job["id"]))["files_done"] == done_before

    # a retry (the tasks API) learns the folder to the end, skipping what is already in memory
    retry = body(await jp_fetch("nexus/api/v1/tasks", task_id, "retry", method="POST", body=""))
    assert retry["kind"] == "learn" and retry["retry_of"] == task_id
    finished = await bus.until(lambda: bus.of(TASK, task_id=retry["id"], state="succeeded"), timeout=300)
    assert finished[0]["progress"] == 1.0
    result = body(await jp_fetch("nexus/api/v1/tasks", retry["id"]))["result"]
    assert (
        result["files_unchanged"] >= done_before
        and result["files_indexed"] + result["files_unchanged"] == 120
    )
    hits = body(await jp_fetch("nexus/api/v1/memory", params={"q": "stage 5 of pipeline 119", "k": "3"}))
    assert any(h["source"] == "pipelines/module_119.py" for h in hits["results"])


async def test_a_refused_path_is_a_400_and_no_task(jp_fetch: Any) -> None:
    r = await jp_fetch(
        "nexus/api/v1/memory/learn", method="POST", body=json.dumps({"path": "../outside"}), raise_error=False
    )
    assert r.code == 400 and "root folder" in body(r)["message"]
    assert body(await jp_fetch("nexus/api/v1/tasks"))["tasks"] == []
