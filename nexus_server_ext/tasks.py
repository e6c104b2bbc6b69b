"""The task scheduler: persisted background jobs with progress, cancellation and restart recovery.

Every task is a row in ``tasks`` before it runs, so nothing is lost silently:
when the server stops (or dies) with tasks pending or running, the next start
marks them ``interrupted`` and the user can retry them (a retry is a new row
pointing at the old one). Each user runs at most ``max_concurrent_per_user``
tasks at once; the rest wait in FIFO order as ``pending``.

Progress goes three ways: the row (what ``GET /tasks`` shows), the Jupyter
event bus (schema ``tasks/v1``) and in-process subscribers (``subscribe``),
which is how the websocket pushes progress to the browser.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session
from traitlets import Int
from traitlets.config import LoggingConfigurable

from . import metrics
from .events import TASK, NexusEvents
from .store.database import Database
from .store.models import Task, User, utcnow

SCHEMA_ID = TASK
SCHEMA_FILE = Path(__file__).parent / "event_schemas" / "tasks" / "v1.yaml"
ACTIVE_STATES = ("pending", "running")
FINAL_STATES = ("succeeded", "failed", "cancelled", "interrupted")

log = logging.getLogger(__name__)


class TaskNotFound(LookupError):
    pass


class TaskError(ValueError):
    """A request the scheduler refuses (unknown kind, retrying an active task); safe to show."""


@dataclass(frozen=True)
class TaskEvent:
    task_id: str
    kind: str
    state: str
    progress: float
    message: str
    username: str
    user_id: int | None


class TaskContext:
    """What a running job sees: its payload, a progress reporter, and its owner."""

    def __init__(self, scheduler: TaskScheduler, task: Task, username: str) -> None:
        self.scheduler = scheduler
        self.task_id = task.id
        self.kind = task.kind
        self.user_id = task.user_id
        self.username = username
        self.payload: dict[str, Any] = dict(task.payload or {})

    async def progress(self, fraction: float, message: str = "") -> None:
        await self.scheduler._update(
            self.task_id, state="running", progress=max(0.0, min(1.0, fraction)), message=message
        )


TaskRunner = Callable[[TaskContext], Awaitable[dict[str, Any] | None]]
Subscriber = Callable[[TaskEvent], None]


class TaskScheduler(LoggingConfigurable):
    max_concurrent_per_user = Int(
        2, help="Background tasks one user may run at once; more wait as pending (0 = no limit)."
    ).tag(config=True)

    def __init__(self, database: Database, events: NexusEvents | Any = None, **kwargs: Any) -> None:
        """``events``: NEXUS's emitter, or a bare jupyter_events ``EventLogger`` (a scheduler on its own)."""
        super().__init__(**kwargs)
        self.database = database
        self.events = events if isinstance(events, NexusEvents) else NexusEvents(events)
        event_logger = self.events.logger
        self._runners: dict[str, TaskRunner] = {}
        self._subscribers: list[Subscriber] = []
        self._running: dict[str, asyncio.Task[None]] = {}
        self._owner_of: dict[str, int | None] = {}
        self._queue: deque[str] = deque()
        self._stopping = False
        # NexusApp registers every NEXUS schema at start-up; a scheduler on its own registers its own.
        if event_logger is not None and SCHEMA_ID not in event_logger.schemas.schema_ids:
            event_logger.register_event_schema(SCHEMA_FILE)

    # -- configuration --------------------------------------------------------------------------
    def register(self, kind: str, runner: TaskRunner) -> None:
        self._runners[kind] = runner

    @property
    def kinds(self) -> list[str]:
        return sorted(self._runners)

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call ``callback`` on every state or progress change; returns the unsubscribe function."""
        self._subscribers.append(callback)
        return lambda: self._subscribers.remove(callback) if callback in self._subscribers else None

    # -- lifecycle --------------------------------------------------------------------------------
    def recover_now(self) -> int:
        """Before first use: tasks a previous server left pending or running are marked ``interrupted``.

        Synchronous: it runs on the worker thread that builds NEXUS's deferred services, before
        any request uses the scheduler.
        """

        def mark(session: Session) -> int:
            result = session.execute(
                update(Task)
                .where(Task.state.in_(ACTIVE_STATES))
                .values(
                    state="interrupted",
                    finished_at=utcnow(),
                    error="The server stopped before this task finished; retry it to run it again.",
                )
            )
            return int(getattr(result, "rowcount", 0) or 0)

        count = self.database.call(mark)
        if count:
            self.log.warning("NEXUS: %d background task(s) were interrupted by a restart", count)
        self._publish_depth()
        return count

    async def recover(self) -> int:
        return await asyncio.to_thread(self.recover_now)

    async def stop(self) -> None:
        """Server shutdown: stop running jobs; ``recover`` on the next start marks them interrupted."""
        self._stopping = True
        for job in list(self._running.values()):
            job.cancel()
        self._queue.clear()
        await asyncio.gather(*self._running.values(), return_exceptions=True)

    # -- user operations -------------------------------------------------------------------------
    async def submit(
        self,
        user_id: int | None,
        kind: str,
        payload: dict[str, Any] | None = None,
        retry_of: str | None = None,
    ) -> Task:
        if kind not in self._runners:
            raise TaskError(f"unknown task kind {kind!r}; known kinds: {', '.join(self.kinds) or 'none'}")

        def add(session: Session) -> Task:
            task = Task(user_id=user_id, kind=kind, payload=payload or {}, state="pending", retry_of=retry_of)
            if retry_of:
                previous = session.get(Task, retry_of)
                task.attempts = (previous.attempts if previous else 0) + 1
            session.add(task)
            session.flush()
            return task

        task = await self.database.run(add)
        self._owner_of[task.id] = user_id
        self._queue.append(task.id)
        await self._emit(task)
        self._dispatch()
        return task

    async def get(self, user_id: int | None, task_id: str) -> Task:
        def query(session: Session) -> Task:
            task = session.get(Task, task_id)
            if task is None or task.user_id != user_id:
                raise TaskNotFound(task_id)
            return task

        return await self.database.run(query)

    async def list(self, user_id: int | None, limit: int = 100) -> list[Task]:
        def query(session: Session) -> list[Task]:
            stmt = select(Task).where(Task.user_id == user_id).order_by(Task.created_at.desc()).limit(limit)
            return list(session.scalars(stmt))

        return await self.database.run(query)

    async def cancel(self, user_id: int | None, task_id: str) -> Task:
        """Cancel a pending or running task; a finished task is returned unchanged (cancel is idempotent)."""
        task = await self.get(user_id, task_id)
        if task.state not in ACTIVE_STATES:
            return task
        if task_id in self._queue:
            self._queue.remove(task_id)
            return await self._update(task_id, state="cancelled", message="cancelled", finished=True)
        job = self._running.get(task_id)
        if job is not None:
            job.cancel()
            await asyncio.gather(job, return_exceptions=True)
            return await self.get(user_id, task_id)
        # Active in the table but not here: left by a server that died; mark it now.
        return await self._update(task_id, state="cancelled", message="cancelled", finished=True)

    async def retry(self, user_id: int | None, task_id: str) -> Task:
        task = await self.get(user_id, task_id)
        if task.state in ACTIVE_STATES:
            raise TaskError("this task is still pending or running; cancel it first")
        return await self.submit(user_id, task.kind, dict(task.payload or {}), retry_of=task.id)

    async def wait(self, task_id: str) -> None:
        """Until the job ends (tests, and callers that chain work after a task)."""
        while task_id in self._queue or task_id in self._running:
            job = self._running.get(task_id)
            if job is not None:
                await asyncio.gather(job, return_exceptions=True)
            else:
                await asyncio.sleep(0.05)

    # -- internals --------------------------------------------------------------------------------
    def _running_for(self, user_id: int | None) -> int:
        return sum(1 for t in self._running if self._owner_of.get(t) == user_id)

    def _dispatch(self) -> None:
        limit = self.max_concurrent_per_user
        for task_id in list(self._queue):
            owner = self._owner_of.get(task_id)
            if limit and self._running_for(owner) >= limit:
                continue
            self._queue.remove(task_id)
            self._running[task_id] = asyncio.ensure_future(self._run(task_id))
        self._publish_depth()

    def _publish_depth(self) -> None:
        metrics.set_queue_depth(len(self._queue), len(self._running))

    async def _run(self, task_id: str) -> None:
        kind = "?"
        try:
            task = await self._update(task_id, state="running", started=True)
            kind = task.kind
            context = TaskContext(self, task, await self._username(task.user_id))
            result = await self._runners[task.kind](context)
        except asyncio.CancelledError:
            # A user's cancel is "cancelled"; a server shutdown is "interrupted" (and retryable).
            state, note = (
                ("interrupted", "the server stopped") if self._stopping else ("cancelled", "cancelled")
            )
            await asyncio.shield(self._update(task_id, state=state, message=note, finished=True))
            raise
        except Exception as exc:
            self.log.warning("NEXUS task %s (%s) failed: %s", task_id, kind, exc)
            await self._update(task_id, state="failed", error=str(exc) or type(exc).__name__, finished=True)
        else:
            await self._update(
                task_id, state="succeeded", progress=1.0, message="done", result=result or {}, finished=True
            )
        finally:
            self._running.pop(task_id, None)
            self._owner_of.pop(task_id, None)
            if not self._stopping:
                self._dispatch()

    async def _username(self, user_id: int | None) -> str:
        if user_id is None:
            return ""
        name = await self.database.run(lambda s: s.scalar(select(User.username).where(User.id == user_id)))
        return name or ""

    async def _update(
        self,
        task_id: str,
        *,
        state: str,
        progress: float | None = None,
        message: str | None = None,
        error: str | None = None,
        result: dict[str, Any] | None = None,
        started: bool = False,
        finished: bool = False,
    ) -> Task:
        def write(session: Session) -> Task:
            task = session.get(Task, task_id)
            if task is None:
                raise TaskNotFound(task_id)
            task.state = state
            if progress is not None:
                task.progress = progress
            if message is not None:
                task.message = message
            if error is not None:
                task.error = error
            if result is not None:
                task.result = result
            if started:
                task.started_at = utcnow()
            if finished:
                task.finished_at = utcnow()
            session.flush()
            return task

        task = await self.database.run(write)
        await self._emit(task)
        return task

    async def _emit(self, task: Task) -> None:
        username = await self._username(task.user_id)
        event = TaskEvent(
            task.id, task.kind, task.state, task.progress, task.message or "", username, task.user_id
        )
        for callback in list(self._subscribers):
            try:
                callback(event)
            except Exception:  # a broken subscriber must not break the task
                log.exception("task subscriber failed")
        self.events.emit(SCHEMA_ID, {k: v for k, v in event.__dict__.items() if k != "user_id"})


async def count_active(database: Database) -> int:
    def count(session: Session) -> int:
        return int(session.scalar(select(func.count()).where(Task.state.in_(ACTIVE_STATES))) or 0)

    return await database.run(count)
