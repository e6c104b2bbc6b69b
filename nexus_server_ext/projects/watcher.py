"""The file watcher: changes under the server root, batched, for the memory re-indexer and others.

Built on watchfiles (native inotify / FSEvents). Hidden folders, virtual
environments, caches and checkpoints are ignored, since re-indexing them would
be wasted work. The watcher starts with the first subscriber and stops with
the server.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

IGNORED_PARTS = frozenset({"__pycache__", "node_modules", ".ipynb_checkpoints", "venv", ".venv"})


@dataclass(frozen=True)
class FileChange:
    kind: str  # added | modified | deleted
    path: str  # relative to the root, POSIX


Listener = Callable[[list[FileChange]], Any]


def relevant(root: Path, path: str) -> str | None:
    try:
        rel = Path(path).relative_to(root)
    except ValueError:
        return None
    if any(p.startswith(".") or p in IGNORED_PARTS for p in rel.parts):
        return None
    return rel.as_posix()


class FileWatcher:
    def __init__(self, root: str | Path, debounce_ms: int = 200) -> None:
        self.root = Path(root).resolve()
        self.debounce_ms = debounce_ms
        self._listeners: list[Listener] = []
        self._task: asyncio.Task[None] | None = None
        self._stop: asyncio.Event | None = None
        self.ready = asyncio.Event()

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(changes)`` (sync or async) for each batch; the watcher starts on first use."""
        self._listeners.append(listener)
        if self._task is None:
            self._stop = asyncio.Event()
            self._task = asyncio.ensure_future(self._watch())
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    async def _watch(self) -> None:
        from watchfiles import Change, awatch

        kinds = {Change.added: "added", Change.modified: "modified", Change.deleted: "deleted"}
        try:
            watcher = awatch(
                self.root, stop_event=self._stop, debounce=self.debounce_ms, step=50, recursive=True
            )
            self.ready.set()
            async for batch in watcher:
                changes = sorted(
                    {FileChange(kinds[c], rel) for c, p in batch if (rel := relevant(self.root, p))},
                    key=lambda c: c.path,
                )
                if changes:
                    await self._deliver(changes)
        except Exception:
            log.exception("the NEXUS file watcher stopped")

    async def _deliver(self, changes: list[FileChange]) -> None:
        for listener in list(self._listeners):
            try:
                result = listener(changes)
                if asyncio.iscoroutine(result):
                    await result
            except Exception:
                log.exception("a file-change listener failed")

    async def stop(self) -> None:
        if self._stop is not None:
            self._stop.set()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
