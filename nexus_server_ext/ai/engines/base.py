"""The engine contract and what every local backend shares: loading, a fair queue, streaming, cancel.

Why this shape:
- one engine per model per process (``get_engine``): the Jupyter server, the
  magics and the gateway share the weights;
- a sequential backend (llama.cpp, transformers on CPU) runs one sequence at a
  time on one worker thread, because a CPU runs one decode well and two badly;
  waiting jobs sit in a *fair* queue (round-robin across users, FIFO within a
  user), so one user's burst cannot starve another user's single question;
- the queue is bounded: past ``max_queue`` a request is refused at once with an
  estimate of when to retry (``EngineBusy.retry_after``) instead of piling up;
- a batching backend (transformers' continuous batching on a GPU) overrides
  ``_submit`` and serves many jobs at once;
- text goes through the shared guards (stop sequences, loop detection) so every
  backend stops at the same place; cancellation is a flag read every token step.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from abc import ABC, abstractmethod
from collections import OrderedDict, deque
from collections.abc import AsyncGenerator, Callable
from typing import Any, ClassVar

from ..types import Delta, GenerationRequest, ProviderError, TokenLogprob, Usage
from .events import notify_load
from .text import RepetitionGuard, StopScanner

log = logging.getLogger(__name__)


class EngineBusy(ProviderError):
    """The engine's queue is full; ``retry_after`` says in how many seconds a retry is likely to fit."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message, status=503)
        self.retry_after = retry_after


class Job:
    """One request on its way through an engine, streaming into the asyncio loop that asked for it."""

    __slots__ = ("cancel", "guard", "loop", "on_cancel", "queue", "reason", "request", "stopper", "user")

    def __init__(self, request: GenerationRequest, loop: asyncio.AbstractEventLoop) -> None:
        self.request = request
        self.user = request.user
        self.loop = loop
        self.queue: asyncio.Queue[Any] = asyncio.Queue()
        self.cancel = threading.Event()
        self.stopper = StopScanner(request.stop)
        self.guard = RepetitionGuard() if request.stop_loops else None
        self.reason: str | None = None  # why the guards ended generation early
        self.on_cancel: Callable[[], None] | None = None  # a batching backend frees the sequence here

    def push(self, item: Any) -> None:
        try:
            self.loop.call_soon_threadsafe(self.queue.put_nowait, item)
        except RuntimeError:  # the caller's loop is gone: nobody is listening any more
            self.cancel.set()

    def emit(self, text: str) -> bool:
        """Pass generated text on; False when generation must end (stop sequence, loop, cancel)."""
        if self.reason is not None:  # a backend may hand over a token or two after being told to stop
            return False
        shown, stopped = self.stopper.feed(text)
        if shown:
            self.push(Delta(shown))
        if stopped:
            self.reason = "stop"
            return False
        if self.guard is not None and self.guard.feed(text):
            self.reason = "repetition"
            return False
        return not self.cancel.is_set()

    def finish(
        self,
        tokens_in: int,
        tokens_out: int,
        reason: str,
        token_logprobs: tuple[TokenLogprob, ...] | None = None,
    ) -> None:
        if self.reason is None and not self.cancel.is_set():
            held = self.stopper.flush()  # text that only looked like the start of a stop sequence
            if held:
                self.push(Delta(held))
        final = "cancelled" if self.cancel.is_set() else self.reason or reason
        self.push(Usage(tokens_in, tokens_out, final, token_logprobs))


class FairQueue:
    """Jobs served round-robin across users and first-come within a user; blocking ``get``."""

    def __init__(self) -> None:
        self._users: OrderedDict[str, deque[Job]] = OrderedDict()
        self._cond = threading.Condition()
        self._size = 0

    def put(self, job: Job) -> None:
        with self._cond:
            self._users.setdefault(job.user, deque()).append(job)
            self._size += 1
            self._cond.notify()

    def get(self, timeout: float | None = None) -> Job | None:
        with self._cond:
            if not self._cond.wait_for(lambda: self._size > 0, timeout):
                return None
            user, jobs = next(iter(self._users.items()))
            job = jobs.popleft()
            del self._users[user]
            if jobs:  # this user has more waiting: to the back of the line
                self._users[user] = jobs
            self._size -= 1
            return job

    def remove(self, job: Job) -> bool:
        """Take ``job`` out if it is still waiting (True); False once a worker has it."""
        with self._cond:
            jobs = self._users.get(job.user)
            if not jobs or job not in jobs:
                return False
            jobs.remove(job)
            if not jobs:
                del self._users[job.user]
            self._size -= 1
            return True

    def __len__(self) -> int:
        return self._size


class Engine(ABC):
    """A local model served to many callers; see the module docstring for why."""

    backend: ClassVar[str] = ""
    slots: ClassVar[int] = 1  # sequences decoded at once (a batching backend raises it)

    def __init__(
        self, source: str, device: str = "auto", max_queue: int = 8, options: dict[str, Any] | None = None
    ) -> None:
        self.source = source
        self.requested_device = device
        self.max_queue = max_queue
        self.options = dict(options or {})
        self.device: str | None = None
        self.state = "not loaded"  # not loaded | loading | loaded | failed
        self.error: str | None = None
        self.load_seconds: float | None = None
        self.loads = 0  # successful loads; a shared gateway proves "loaded once" with it
        self._load_lock = threading.Lock()
        self._pending = 0
        self._pending_lock = threading.Lock()
        self._queue = FairQueue()
        self._worker: threading.Thread | None = None
        self._job_seconds = 2.0  # moving average of one job's run time, for Retry-After

    # -- loading ------------------------------------------------------------------------------------
    def load(self) -> None:
        """Load the model (blocking; call from a worker thread). Idempotent and thread-safe."""
        with self._load_lock:
            if self.state == "loaded":
                return
            self.state, started = "loading", time.perf_counter()
            notify_load(self)  # model/v1 events: JupyterLab shows a progress bar while it loads
            try:
                self._load()
            except Exception as exc:
                self.state, self.error = "failed", f"{type(exc).__name__}: {exc}"
                log.error("NEXUS local model %s failed to load: %s", self.source, self.error)
                notify_load(self)
                raise ProviderError(f"the local model could not be loaded ({type(exc).__name__})") from exc
            self.load_seconds = time.perf_counter() - started
            self.state, self.error = "loaded", None
            self.loads += 1
            notify_load(self)
            log.info(
                "NEXUS local model %s (%s) loaded on %s in %.2f s",
                self.source,
                self.backend,
                self.device,
                self.load_seconds,
            )

    async def ensure_loaded(self) -> None:
        if self.state != "loaded":
            await asyncio.to_thread(self.load)

    @abstractmethod
    def _load(self) -> None:
        """Read the weights and set ``self.device``."""

    @abstractmethod
    def _run(self, job: Job) -> None:
        """Generate for one job on the worker thread: ``job.emit`` each piece of text (stop when it
        returns False), then ``job.finish``."""

    # -- serving ------------------------------------------------------------------------------------
    async def stream(self, request: GenerationRequest) -> AsyncGenerator[Delta | Usage, None]:
        """Yield text deltas then one ``Usage``; closing the iterator cancels the generation."""
        await self.ensure_loaded()
        with self._pending_lock:
            if self._pending >= self.max_queue:
                raise EngineBusy(
                    f"the local model is busy ({self._pending} requests queued)", self.retry_after()
                )
            self._pending += 1
        job = Job(request, asyncio.get_running_loop())
        try:
            self._submit(job)
        except BaseException:
            self._done(job, 0.0)
            raise
        try:
            while True:
                item = await job.queue.get()
                if isinstance(item, Exception):
                    raise item
                yield item
                if isinstance(item, Usage):
                    return
        finally:
            job.cancel.set()  # a no-op after a normal end; frees the engine after a cancel or error
            if job.on_cancel is not None:
                job.on_cancel()
            if self._queue.remove(job):  # cancelled while it waited: its place is free at once, so a
                self._done(job, 0.0)  # burst of superseded completions never fills the queue

    def _submit(self, job: Job) -> None:
        self._queue.put(job)
        with self._pending_lock:  # the worker decides to retire under the same lock
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(target=self._serve, name=f"nexus-{self.backend}", daemon=True)
                self._worker.start()

    def _serve(self) -> None:
        while True:
            job = self._queue.get(timeout=60.0)
            if job is None:  # idle for a minute: let the thread go, the next job starts another
                with self._pending_lock:
                    if len(self._queue) == 0:
                        self._worker = None
                        return
                continue
            started = time.perf_counter()
            try:
                if job.cancel.is_set():  # cancelled (or superseded) while it waited
                    job.finish(0, 0, "cancelled")
                else:
                    self._run(job)
            except Exception as exc:
                log.exception("NEXUS local generation failed")
                job.push(ProviderError(f"local generation failed ({type(exc).__name__})"))
            finally:
                self._done(job, time.perf_counter() - started)

    def _done(self, job: Job, seconds: float) -> None:
        with self._pending_lock:
            self._pending -= 1
            if seconds > 0:
                self._job_seconds = 0.8 * self._job_seconds + 0.2 * seconds

    def retry_after(self) -> float:
        """Seconds until the queue has likely drained enough to take one more request."""
        return float(min(60, max(1, math.ceil(self._pending * self._job_seconds / self.slots))))

    @property
    def pending(self) -> int:
        """Requests queued or running."""
        return self._pending

    def describe(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "backend": self.backend,
            "device": self.device,
            "source": self.source,
            "queued": self._pending,
            "loads": self.loads,
            "load_seconds": None if self.load_seconds is None else round(self.load_seconds, 2),
            "error": self.error,
        }
