"""``MemoryFollower``: learned files and folders follow the disk, driven by the file watcher.

Once a folder is learned it is *followed*: when the watcher (``projects/watcher.py``)
reports files added, edited or deleted under the server root, the owner's learned
files among them are re-indexed or forgotten, and new learnable files inside a
followed folder are learned, about a second after the change and without polling.
Edits to single learned files (``/learn notes.md``) are followed too.

Who follows what is kept in ``<data_dir>/learned-folders.json``. Only owners who
learned through this server are followed: with a Chroma server shared by many user
servers, another server's root is not this one's to read. When the server starts,
a one-time catch-up re-checks followed owners for what changed while it was down.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from traitlets import Bool
from traitlets.config import LoggingConfigurable

from ..events import LEARN, NexusEvents
from .indexer import Indexer, LearnRefused

if TYPE_CHECKING:
    from ..projects.watcher import FileChange, FileWatcher

log = logging.getLogger(__name__)

STATE_FILE = "learned-folders.json"


class MemoryFollower(LoggingConfigurable):
    enabled = Bool(
        True,
        help="Learned files and folders follow the disk: the file watcher re-indexes edited files, "
        "learns new files in learned folders and forgets deleted ones (off: learn again to update).",
    ).tag(config=True)

    def __init__(
        self,
        indexer: Indexer,
        watcher: FileWatcher,
        state_file: str | Path,
        events: NexusEvents | None = None,
        **kwargs: Any,
    ) -> None:
        """``kwargs``: ``parent``/``config`` or the setting (``enabled=False``)."""
        super().__init__(**kwargs)
        self.indexer = indexer
        self.watcher = watcher
        self.state_file = Path(state_file)
        self.events = events
        self._follows: dict[str, set[str]] = self._load()
        self._unsubscribe: Callable[[], None] | None = None
        self._catch_up: asyncio.Task[None] | None = None

    # -- what is followed -------------------------------------------------------------------------
    def followed(self, owner: str) -> set[str]:
        """The owner's followed folders ("" is the root); an owner with no folder still has its learned
        files followed once it is known here."""
        return set(self._follows.get(owner, set()))

    async def follow(self, owner: str, folder: str | None) -> None:
        """After a successful learn (on the event loop): follow the owner's files, and ``folder``."""
        folders = self._follows.setdefault(owner, set())
        if folder is not None:
            folders.add("" if folder == "." else folder)
        await asyncio.to_thread(self._save)
        self._subscribe()

    async def forget(self, owner: str, folder: str | None = None) -> bool:
        """Stop following ``folder`` (or, with None, everything of the owner); True if it was followed."""
        if owner not in self._follows:
            return False
        if folder is None:
            del self._follows[owner]
            found = True
        else:
            found = folder in self._follows[owner]
            self._follows[owner].discard(folder)
        await asyncio.to_thread(self._save)
        return found

    # -- lifecycle ----------------------------------------------------------------------------------
    def start(self) -> None:
        """On the event loop, once the services exist: catch up on changes made while the server was
        down, then follow the watcher. Nothing to follow: the watcher is not even started."""
        if not self.enabled or not self._follows or self._catch_up is not None:
            return
        self._subscribe()
        self._catch_up = asyncio.ensure_future(self._catch_up_all())

    def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._catch_up is not None:
            self._catch_up.cancel()

    def _subscribe(self) -> None:
        if self.enabled and self._unsubscribe is None:
            self._unsubscribe = self.watcher.subscribe(self.on_changes)

    async def _catch_up_all(self) -> None:
        for owner, folders in list(self._follows.items()):
            try:
                await asyncio.to_thread(self.indexer.refresh, owner)
                for folder in sorted(folders):
                    try:
                        files, _ = await asyncio.to_thread(self.indexer.resolve, folder or ".")
                    except LearnRefused:  # the folder is gone; its files were forgotten by refresh
                        continue
                    paths = [f.as_posix() for f in files]
                    await asyncio.to_thread(self.indexer.apply, owner, paths, [], {folder})
            except Exception as exc:  # one owner's trouble must not stop the others
                log.warning("NEXUS could not catch up on the learned files of %s: %s", owner, exc)

    # -- the watcher's batches ----------------------------------------------------------------------
    async def on_changes(self, changes: list[FileChange]) -> None:
        changed = [c.path for c in changes if c.kind != "deleted" and self.indexer.learnable(c.path)]
        deleted = [c.path for c in changes if c.kind == "deleted"]
        if not (changed or deleted):
            return
        for owner, folders in list(self._follows.items()):
            job = await asyncio.to_thread(self.indexer.apply, owner, changed, deleted, set(folders))
            if not (job.files_indexed or job.files_removed):
                continue
            log.info(
                "NEXUS memory of %s follows the disk: %d file(s) re-indexed, %d forgotten",
                owner,
                job.files_indexed,
                job.files_removed,
            )
            if self.events is not None:
                self.events.emit(LEARN, job.event(owner, trigger="watch"))

    # -- persistence ----------------------------------------------------------------------------------
    def _load(self) -> dict[str, set[str]]:
        try:
            data = json.loads(self.state_file.read_text())
            return {str(o): {str(f) for f in fs} for o, fs in data.get("follow", {}).items()}
        except FileNotFoundError:
            return {}
        except (OSError, ValueError, AttributeError) as exc:
            log.warning("NEXUS ignores an unreadable %s: %s", self.state_file, exc)
            return {}

    def _save(self) -> None:
        data = {"version": 1, "follow": {o: sorted(fs) for o, fs in sorted(self._follows.items())}}
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1))
        os.replace(tmp, self.state_file)
