"""The task scheduler: persisted states, progress events, per-user limit, cancel, restart recovery, retry."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from jupyter_events import EventLogger

from nexus_server_ext.store import Database
from nexus_server_ext.store.users import UserStore
from nexus_server_ext.tasks import SCHEMA_ID, TaskContext, TaskError, TaskEvent, TaskScheduler


class Gate:
    """A job kind the test controls: it reports progress, then waits until released."""

    def __init__(self) -> None:
        self.started: dict[str, asyncio.Event] = {}
        self.release: dict[str, asyncio.Event] = {}

    def for_task(self, task_id: str) -> tuple[asyncio.Event, asyncio.Event]:
        return self.started.setdefault(task_id, asyncio.Event()), self.release.setdefault(
            task_id, asyncio.Event()
        )

    async def __call__(self, ctx: TaskContext) -> dict[str, Any]:
        started, release = self.for_task(ctx.task_id)
        await ctx.progress(0.5, "half way")
        started.set()
        await release.wait()
        if ctx.payload.get("fail"):
            raise RuntimeError("the job broke")
        return {"echo": ctx.payload.get("value")}


async def wait_state(scheduler: TaskScheduler, uid: int, task_id: str, state: str) -> Any:
    for _ in range(200):
        task = await scheduler.get(uid, task_id)
        if task.state == state:
            return task
        await asyncio.sleep(0.02)
    raise AssertionError(f"task {task_id} never reached {state}; it is {task.state}")


@pytest.fixture
def users(database: Database) -> tuple[int, int]:
    store = UserStore(database)
    return asyncio.run(store.ensure("ann")), asyncio.run(store.ensure("bob"))


async def test_progress_reaches_subscribers_event_bus_and_table(database: Database, users: Any) -> None:
    ann, _ = users
    bus_events: list[dict[str, Any]] = []

    async def on_event(logger: Any, schema_id: str, data: dict[str, Any]) -> None:
        bus_events.append(data)

    logger = EventLogger()
    scheduler = TaskScheduler(database, logger)
    logger.add_listener(schema_id=SCHEMA_ID, listener=on_event)
    seen: list[TaskEvent] = []
    unsubscribe = scheduler.subscribe(seen.append)
    gate = Gate()
    scheduler.register("gate", gate)

    task = await scheduler.submit(ann, "gate", {"value": 7})
    started, release = gate.for_task(task.id)
    await started.wait()
    running = await scheduler.get(ann, task.id)
    assert (running.state, running.progress, running.message) == ("running", 0.5, "half way")
    release.set()
    await scheduler.wait(task.id)
    done = await scheduler.get(ann, task.id)
    assert done.state == "succeeded" and done.result == {"echo": 7} and done.finished_at is not None
    await asyncio.sleep(0.05)  # event-bus listeners run as tasks

    states = [e.state for e in seen]
    assert states[0] == "pending" and states[-1] == "succeeded" and "running" in states
    assert seen[-1].username == "ann"
    assert [e["state"] for e in bus_events] == states
    unsubscribe()
    await scheduler.submit(ann, "gate", {})
    assert seen[-1].state == "succeeded"  # no more events after unsubscribing
    await scheduler.stop()


async def test_per_user_limit_queues_fifo_and_cancel(database: Database, users: Any) -> None:
    ann, bob = users
    scheduler = TaskScheduler(database, max_concurrent_per_user=1)
    gate = Gate()
    scheduler.register("gate", gate)
    a1 = await scheduler.submit(ann, "gate")
    a2 = await scheduler.submit(ann, "gate")
    a3 = await scheduler.submit(ann, "gate")
    b1 = await scheduler.submit(bob, "gate")
    await gate.for_task(a1.id)[0].wait()
    await gate.for_task(b1.id)[0].wait()  # another user is not held up by ann's queue
    assert (await scheduler.get(ann, a2.id)).state == "pending"

    cancelled = await scheduler.cancel(ann, a3.id)  # pending: dropped from the queue
    assert cancelled.state == "cancelled"
    gate.for_task(a1.id)[1].set()
    await gate.for_task(a2.id)[0].wait()  # a2 starts only once a1 is done
    assert (await scheduler.get(ann, a1.id)).state == "succeeded"
    assert (await scheduler.cancel(ann, a2.id)).state == "cancelled"  # running: the job is stopped
    assert (await scheduler.cancel(ann, a1.id)).state == "succeeded"  # finished: unchanged
    with pytest.raises(LookupError):
        await scheduler.get(bob, a1.id)  # never someone else's task
    gate.for_task(b1.id)[1].set()
    await scheduler.wait(b1.id)
    await scheduler.stop()


async def test_failures_are_recorded_and_retry_makes_a_new_task(database: Database, users: Any) -> None:
    ann, _ = users
    scheduler = TaskScheduler(database)
    gate = Gate()
    scheduler.register("gate", gate)
    with pytest.raises(TaskError, match="unknown task kind"):
        await scheduler.submit(ann, "nope")
    task = await scheduler.submit(ann, "gate", {"fail": True})
    with pytest.raises(TaskError, match="still pending or running"):
        await scheduler.retry(ann, task.id)
    gate.for_task(task.id)[1].set()
    failed = await wait_state(scheduler, ann, task.id, "failed")
    assert failed.error == "the job broke"
    again = await scheduler.retry(ann, task.id)
    assert again.id != task.id and again.retry_of == task.id and again.attempts == 1
    gate.for_task(again.id)[1].set()
    await wait_state(scheduler, ann, again.id, "failed")
    await scheduler.stop()


async def test_shutdown_and_crash_leave_nothing_silently_lost(database: Database, users: Any) -> None:
    ann, _ = users
    first = TaskScheduler(database, max_concurrent_per_user=1)
    gate = Gate()
    first.register("gate", gate)
    running = await first.submit(ann, "gate")
    queued = await first.submit(ann, "gate")
    await gate.for_task(running.id)[0].wait()
    await first.stop()  # graceful shutdown: the running job is interrupted, the queued one stays pending
    assert (await first.get(ann, running.id)).state == "interrupted"
    assert (await first.get(ann, queued.id)).state == "pending"

    second = TaskScheduler(database)  # the next server start
    second.register("gate", gate)
    assert await second.recover() == 1
    recovered = await second.get(ann, queued.id)
    assert recovered.state == "interrupted" and "retry" in (recovered.error or "")
    retried = await second.retry(ann, queued.id)
    gate.for_task(retried.id)[1].set()
    await second.wait(retried.id)
    assert (await second.get(ann, retried.id)).state == "succeeded"
    await second.stop()


async def test_server_restart_in_the_middle_of_a_task(
    jp_fetch: Any, nexus_services: Any, jp_configurable_serverapp: Any
) -> None:
    gate = Gate()
    nexus_services.scheduler.register("gate", gate)
    uid = await nexus_services.users.ensure(nexus_services.owner_name)
    task = await nexus_services.scheduler.submit(uid, "gate", {"value": "x"})
    await gate.for_task(task.id)[0].wait()
    listed = json.loads((await jp_fetch("nexus/api/v1/tasks")).body)["tasks"]
    assert [(t["id"], t["state"], t["progress"]) for t in listed] == [(task.id, "running", 0.5)]

    # A second server on the same data directory: what starts after the first one died.
    restarted = jp_configurable_serverapp().web_app.settings["nexus"]
    after = await restarted.scheduler.get(uid, task.id)
    assert after.state == "interrupted"
    restarted.scheduler.register("gate", gate)
    retried = await restarted.scheduler.retry(uid, task.id)
    gate.for_task(retried.id)[1].set()
    await restarted.scheduler.wait(retried.id)
    assert (await restarted.scheduler.get(uid, retried.id)).result == {"echo": "x"}
    gate.for_task(task.id)[1].set()
    await restarted.scheduler.stop()
    await nexus_services.scheduler.stop()


async def test_tasks_api_reads_cancels_and_hides_other_users_tasks(
    jp_fetch: Any, nexus_services: Any
) -> None:
    gate = Gate()
    nexus_services.scheduler.register("gate", gate)
    uid = await nexus_services.users.ensure(nexus_services.owner_name)
    other = await nexus_services.users.ensure("someone-else")
    mine = await nexus_services.scheduler.submit(uid, "gate")
    theirs = await nexus_services.scheduler.submit(other, "gate")
    await gate.for_task(mine.id)[0].wait()
    r = await jp_fetch("nexus/api/v1/tasks", theirs.id, raise_error=False)
    assert r.code == 404
    r = await jp_fetch("nexus/api/v1/tasks", mine.id, "cancel", method="POST", body="{}")
    assert json.loads(r.body)["state"] == "cancelled"
    r = await jp_fetch("nexus/api/v1/tasks", theirs.id, "cancel", method="POST", body="{}", raise_error=False)
    assert r.code == 404
    assert (await nexus_services.scheduler.get(other, theirs.id)).state == "running"
    r = await jp_fetch("nexus/api/v1/tasks", mine.id, "retry", method="POST", body="{}")
    assert r.code == 201 and json.loads(r.body)["retry_of"] == mine.id
    for event in gate.release.values():
        event.set()
    gate.release.setdefault(json.loads(r.body)["id"], asyncio.Event()).set()
    await nexus_services.scheduler.stop()
