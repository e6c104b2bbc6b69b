"""Learning as scheduler tasks: persisted, listed by ``/tasks``, cancellable, with live progress.

``/memory/learn`` and chat's ``/learn`` both come here. The target is checked at
once (a refusal is an immediate 400, not a failed task); the indexing itself is a
``learn`` task, so it shows up in ``GET /tasks``, survives as a row when the
server stops (``interrupted``, retryable) and stops at the next file when
cancelled through ``POST /tasks/{id}/cancel``.

While it runs, progress goes to the task row and the ``tasks/v1`` event (what a
progress bar needs), and the ``learn/v1`` event carries the file counts. A
learned folder is then followed (``follower.py``): files added or edited in it
later are re-indexed as they change.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from ..events import LEARN, NexusEvents
from .indexer import Indexer, LearnProgress

if TYPE_CHECKING:
    from ..store.models import Task
    from ..tasks import TaskContext, TaskScheduler
    from .follower import MemoryFollower

LEARN_TASK = "learn"


class LearnFailed(RuntimeError):
    """Indexing ended in an error; the message (shown as the task's error) says which."""


class LearnJobs:
    """Submits learn tasks and runs them (the scheduler calls ``_run``)."""

    def __init__(
        self,
        indexer: Indexer,
        scheduler: TaskScheduler,
        events: NexusEvents,
        follower: MemoryFollower | None = None,
        progress_interval_s: float = 0.5,
    ) -> None:
        self.indexer = indexer
        self.scheduler = scheduler
        self.events = events
        self.follower = follower
        self.progress_interval_s = progress_interval_s
        scheduler.register(LEARN_TASK, self._run)

    async def submit(self, user_id: int | None, owner: str, target: str) -> tuple[Task, LearnProgress]:
        """Check ``target`` now (``LearnRefused`` if it is not learnable), then queue the task."""
        job = await asyncio.to_thread(self.indexer.start, owner, target)  # walks the folder: off the loop
        task = await self.scheduler.submit(
            user_id, LEARN_TASK, {"owner": owner, "target": target, "job_id": job.id}
        )
        job.task_id = task.id
        return task, job

    async def _run(self, ctx: TaskContext) -> dict[str, Any]:
        owner, target = str(ctx.payload["owner"]), str(ctx.payload["target"])
        job = self.indexer.jobs.get(str(ctx.payload.get("job_id", "")))
        if job is None or job.state != "pending" or job.owner != owner:  # a retry: look at the disk again
            job = await asyncio.to_thread(self.indexer.start, owner, target)
        job.task_id, job.state = ctx.task_id, "running"
        self.events.emit(LEARN, job.event(ctx.username))
        worker = asyncio.ensure_future(asyncio.to_thread(self.indexer.run, job))
        try:
            await self._follow_progress(ctx, job, worker)
        except asyncio.CancelledError:
            job.cancel.set()  # the worker stops before the next file
            await asyncio.gather(worker, return_exceptions=True)
            self.events.emit(LEARN, job.event(ctx.username))
            raise
        self.events.emit(LEARN, job.event(ctx.username))
        if job.state == "failed":
            raise LearnFailed("; ".join(job.errors) or "indexing failed")
        if self.follower is not None:
            await self.follower.follow(owner, job.scope.as_posix() if job.scope is not None else None)
        return {
            k: v
            for k, v in job.as_dict().items()
            if k.startswith(("files_", "chunks_")) or k in ("target", "errors")
        }

    async def _follow_progress(
        self, ctx: TaskContext, job: LearnProgress, worker: asyncio.Future[Any]
    ) -> None:
        """Report progress (row, ``tasks/v1``, ``learn/v1``) whenever a file is done, at most every
        ``progress_interval_s``, until the worker ends."""
        reported = -1
        while True:
            done, _ = await asyncio.wait({worker}, timeout=self.progress_interval_s)
            if done:
                return
            if job.files_done != reported:
                reported = job.files_done
                await ctx.progress(job.progress, job.summary)
                self.events.emit(LEARN, job.event(ctx.username))
