"""One background asyncio loop per kernel, so synchronous magic code can drive async engines.

Why: ipykernel executes a cell *inside* its own running event loop, so a magic
cannot call ``asyncio.run``. The engine, meanwhile, pushes streamed tokens into
"whichever loop asked". A dedicated daemon thread with its own loop serves both:
the magic submits a coroutine or async generator and reads results from a
thread-safe queue, updating the cell's output as each item arrives.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import AsyncIterator, Coroutine, Iterator
from typing import Any, TypeVar

T = TypeVar("T")

_END = object()


class LoopThread:
    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._loop.is_closed():
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name="nexus-magics-loop", daemon=True).start()
                self._loop = loop
            return self._loop

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run ``coro`` on the background loop and wait for its result (re-raising its exception)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def iterate(self, agen: AsyncIterator[T]) -> Iterator[T]:
        """Items of an async iterator, one by one, as they are produced.

        Closing the returned generator early (a ``KeyboardInterrupt`` in the cell) cancels the producer,
        which in turn cancels a running generation.
        """
        items: queue.Queue[Any] = queue.Queue()

        async def pump() -> None:
            try:
                async for item in agen:
                    items.put(item)
            except BaseException as exc:  # delivered to the reading thread
                items.put(exc)
            else:
                items.put(_END)
            finally:
                aclose = getattr(agen, "aclose", None)
                if aclose is not None:
                    await aclose()

        future = asyncio.run_coroutine_threadsafe(pump(), self.loop)
        try:
            while True:
                item = items.get()
                if item is _END:
                    return
                if isinstance(item, BaseException):
                    if isinstance(item, asyncio.CancelledError):
                        return
                    raise item
                yield item
        finally:
            if not future.done():
                future.cancel()


_RUNNER: LoopThread | None = None


def runner() -> LoopThread:
    """The process-wide background loop (created on first use)."""
    global _RUNNER
    if _RUNNER is None:
        _RUNNER = LoopThread()
    return _RUNNER
