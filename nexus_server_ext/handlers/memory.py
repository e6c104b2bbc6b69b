"""``/memory``: learn files into the caller's vector memory, search it, forget a source or everything.

Learning runs as a scheduler task (``learn``): listed by ``/tasks``, cancellable, with progress
events; a learned folder is then followed, so files added or edited in it are re-indexed.
"""

from __future__ import annotations

from jupyter_server.auth.decorator import authorized
from tornado import web

from ..api_models import (
    LearnProgressOut,
    LearnRequest,
    MemoryDeleteReply,
    MemoryHitOut,
    MemorySearchReply,
)
from ..errors import NexusError
from ..memory.indexer import Indexer, LearnProgress, LearnRefused
from ..memory.learn_tasks import LearnJobs
from ..memory.vector_memory import VectorMemory
from .base import NexusHandler, Operation


def progress_out(job: LearnProgress) -> LearnProgressOut:
    data = job.as_dict()
    return LearnProgressOut(**{k: data[k] for k in LearnProgressOut.model_fields})


class MemoryHandlerBase(NexusHandler):
    auth_resource = "nexus:memory"

    def memory(self) -> VectorMemory:
        if self.nexus.memory is None:
            raise NexusError(503, "unavailable", "The vector memory is not running.")
        return self.nexus.memory

    def indexer(self) -> Indexer:
        if self.nexus.indexer is None:
            raise NexusError(503, "unavailable", "The vector memory is not running.")
        return self.nexus.indexer

    def learn_jobs(self) -> LearnJobs:
        if self.nexus.learn_jobs is None:
            raise NexusError(503, "unavailable", "The vector memory is not running.")
        return self.nexus.learn_jobs


class LearnHandler(MemoryHandlerBase):
    operations = {
        "post": Operation(
            "Start learning a folder, file or glob (`.py .ipynb .md .txt .rst`); returns its progress.",
            request=LearnRequest,
            response=LearnProgressOut,
            status=202,
            max_body_bytes=8 * 1024,
            rate_class="default",
            description="Runs as a `learn` task: poll `GET /memory/learn/{id}` or follow the `tasks/v1` and "
            "`learn/v1` events; cancel with `POST /tasks/{task_id}/cancel`. Unchanged files are skipped by "
            "content hash. A learned folder is followed afterwards: files added, edited or deleted in it "
            "update the memory as they change.",
        )
    }

    @web.authenticated
    @authorized
    async def post(self) -> None:
        body = self.read_model(LearnRequest)
        learn_jobs = self.learn_jobs()
        try:
            _, job = await learn_jobs.submit(await self.user_id(), self.username, body.path)
        except LearnRefused as exc:
            raise NexusError(400, "invalid_path", str(exc)) from None
        self.write_model(progress_out(job), status=202)


class LearnProgressHandler(MemoryHandlerBase):
    operations = {"get": Operation("The progress of a learning run.", response=LearnProgressOut)}

    @web.authenticated
    @authorized
    async def get(self, job_id: str) -> None:
        job = self.indexer().jobs.get(job_id)
        if job is None or job.owner != self.username:
            raise NexusError(404, "not_found", "There is no learning run with this id.")
        self.write_model(progress_out(job))


class MemoryHandler(MemoryHandlerBase):
    operations = {
        "get": Operation(
            "Search the caller's memory: `?q=TEXT&k=5` (k at most 20).", response=MemorySearchReply
        ),
        "delete": Operation(
            "Forget a learned source (`?source=PATH`; a learned folder: every file in it, and stop "
            "following it) or, without it, everything the caller learned.",
            response=MemoryDeleteReply,
        ),
    }

    @web.authenticated
    @authorized
    async def get(self) -> None:
        query = self.get_query_argument("q", "").strip()
        if not query:
            raise NexusError(400, "invalid_request", "q: say what to search for (?q=...).")
        if len(query) > 2000:
            raise NexusError(400, "invalid_request", "q: at most 2000 characters.")
        try:
            k = int(self.get_query_argument("k", "5"))
        except ValueError:
            raise NexusError(400, "invalid_request", "k: must be a whole number.") from None
        if not 1 <= k <= 20:
            raise NexusError(400, "invalid_request", "k: must be between 1 and 20.")
        hits = await self.memory().asearch(self.username, query, k)
        results = [
            MemoryHitOut(source=h.source, lines=h.lines, cell_id=h.cell_id, score=h.score, text=h.text)
            for h in hits
        ]
        self.write_model(MemorySearchReply(query=query, results=results))

    @web.authenticated
    @authorized
    async def delete(self) -> None:
        source = (self.get_query_argument("source", None) or "").strip().strip("/") or None
        follower = self.nexus.follower
        followed = follower is not None and await follower.forget(self.username, source)
        if source and followed:  # a learned folder: every file in it, and it is no longer followed
            removed = await self.memory().adelete_folder(self.username, source)
        else:
            removed = await self.memory().adelete_source(self.username, source)
        if source and not (removed or followed):
            raise NexusError(404, "not_found", "Nothing was learned from this source.")
        self.write_model(MemoryDeleteReply(removed=removed))


default_handlers = [
    (r"/nexus/api/v1/memory", MemoryHandler),
    (r"/nexus/api/v1/memory/learn", LearnHandler),
    (r"/nexus/api/v1/memory/learn/(?P<job_id>[0-9a-f]{32})", LearnProgressHandler),
]
