"""``Indexer``: ``/learn PATH|GLOB`` -> structure-aware chunks in the user's vector memory.

Why this shape:
- paths are resolved against the server's root directory and refused when they
  (or a symlink inside them) lead outside it, or name a hidden file: a chat
  message must not be a way to read ``~/.ssh``;
- incremental by content hash: an unchanged file costs one hash, a changed one
  replaces its chunks, a file that disappeared from a learned folder loses its
  vectors, so stale answers do not outlive the code;
- the work is a plain blocking function (``run``) reporting into a
  ``LearnProgress`` and stopping at the next file when its ``cancel`` is set;
  ``learn_tasks.py`` runs it as a scheduler task (persisted, cancellable);
- ``apply`` re-indexes the files a change on disk touched (``follower.py`` feeds
  it from the file watcher); ``refresh`` re-checks every learned file once (a
  catch-up after the server was down).
"""

from __future__ import annotations

import glob
import hashlib
import threading
import time
import uuid
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from .chunking import SUFFIXES, chunk_file
from .vector_memory import VectorMemory

MAX_FILE_BYTES = 2 * 1024 * 1024
MAX_FINISHED_JOBS = 200


class LearnRefused(ValueError):
    """The path is outside the server root, hidden, or matches nothing learnable; safe to show."""


@dataclass
class LearnProgress:
    id: str
    owner: str
    target: str
    state: str = "pending"  # pending | running | succeeded | failed | cancelled
    files_total: int = 0
    files_done: int = 0
    files_indexed: int = 0
    files_unchanged: int = 0
    files_removed: int = 0
    chunks_added: int = 0
    errors: list[str] = field(default_factory=list)
    started_at: float = field(default_factory=time.time)
    finished_at: float | None = None
    task_id: str | None = None  # the scheduler task running this job
    current: str = ""  # the file being indexed now
    files: list[Path] = field(default_factory=list, repr=False)
    scope: Path | None = field(default=None, repr=False)
    cancel: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def progress(self) -> float:
        return (
            1.0
            if self.state == "succeeded"
            else self.files_done / self.files_total
            if self.files_total
            else 0.0
        )

    def as_dict(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.repr}
        return {**data, "errors": list(self.errors), "progress": round(self.progress, 4)}

    def event(self, username: str, trigger: str = "request") -> dict[str, Any]:
        """The ``learn/v1`` event (``event_schemas/learn``) for this job's state now."""
        return {
            "task_id": self.task_id,
            "trigger": trigger,
            "target": self.target,
            "state": self.state,
            "progress": round(self.progress, 4),
            "current": self.current,
            "files_total": self.files_total,
            "files_done": self.files_done,
            "files_indexed": self.files_indexed,
            "files_unchanged": self.files_unchanged,
            "files_removed": self.files_removed,
            "chunks_added": self.chunks_added,
            "username": username,
        }

    @property
    def summary(self) -> str:
        """One line for a progress bar: files done of total, and the file at hand."""
        line = f"{self.files_done}/{self.files_total} files"
        return f"{line}: {self.current}" if self.current and self.state == "running" else line


def is_hidden(relative: Path) -> bool:
    return any(part.startswith(".") for part in relative.parts)


class Indexer:
    def __init__(self, memory: VectorMemory, root_dir: str | Path) -> None:
        self.memory = memory
        self.root = Path(root_dir).resolve()
        self.jobs: dict[str, LearnProgress] = {}
        self._lock = threading.Lock()  # one indexing run at a time: the embedder is shared

    # -- resolving what to learn ----------------------------------------------------------------
    def _inside(self, path: Path) -> Path | None:
        """The path relative to the root if it really lies inside it (symlinks resolved), else None."""
        try:
            return path.resolve().relative_to(self.root)
        except (ValueError, OSError):
            return None

    def resolve(self, target: str) -> tuple[list[Path], Path | None]:
        """(learnable files relative to root, folder scope or None for a glob). Raises LearnRefused."""
        target = target.strip()
        if not target:
            raise LearnRefused("Say what to learn: a folder, a file or a glob such as src/**/*.py.")
        raw = Path(target)
        if raw.is_absolute() and self._inside(raw) is None:
            raise LearnRefused(
                f"{target} is outside the server's root folder; NEXUS only learns files under it."
            )
        relative = raw.relative_to(self.root) if raw.is_absolute() else raw
        if ".." in relative.parts:
            raise LearnRefused(f"{target} leaves the server's root folder; NEXUS only learns files under it.")
        if is_hidden(relative):
            raise LearnRefused(f"{target} is hidden; NEXUS does not learn hidden files.")
        full = self.root / relative
        if glob.has_magic(str(relative)):
            candidates = [Path(p) for p in glob.glob(str(full), recursive=True)]
            scope = None
        elif full.is_dir():
            candidates = [p for p in full.rglob("*")]
            scope = relative
        elif full.is_file():
            candidates = [full]
            scope = None
        else:
            raise LearnRefused(f"{target} does not exist under the server's root folder.")
        if (scope is not None or not glob.has_magic(str(relative))) and self._inside(full) is None:
            raise LearnRefused(f"{target} leads outside the server's root folder (a symbolic link).")
        files = []
        for path in candidates:
            inside = self._inside(path)
            if inside is None or is_hidden(inside) or is_hidden(path.relative_to(self.root)):
                continue
            if path.is_file() and path.suffix.lower() in SUFFIXES:
                files.append(path.relative_to(self.root))
        return sorted(set(files)), scope

    # -- running --------------------------------------------------------------------------------
    def learnable(self, relative: str) -> bool:
        """Whether a path relative to the root is a file NEXUS would learn (not hidden, known suffix)."""
        path = Path(relative)
        return (
            not is_hidden(path)
            and path.suffix.lower() in SUFFIXES
            and self._inside(self.root / path) is not None
        )

    def start(self, owner: str, target: str) -> LearnProgress:
        """Check the target now (so a refusal is immediate), return a progress record to run later."""
        files, scope = self.resolve(target)
        if not files and scope is None:
            raise LearnRefused(f"{target} matches no .py, .ipynb, .md, .txt or .rst file.")
        job = LearnProgress(
            id=uuid.uuid4().hex, owner=owner, target=target, files_total=len(files), files=files, scope=scope
        )
        self.jobs[job.id] = job
        finished = [j for j in self.jobs.values() if j.finished_at is not None]
        for old in sorted(finished, key=lambda j: j.finished_at or 0)[:-MAX_FINISHED_JOBS]:
            del self.jobs[old.id]  # progress records are for polling, not a history
        return job

    def run(self, job: LearnProgress) -> LearnProgress:
        files, scope = job.files, job.scope
        job.state = "running"
        try:
            with self._lock:
                known = self.memory.sources(job.owner)
                for relative in files:
                    if job.cancel.is_set():
                        break
                    job.current = relative.as_posix()
                    self._index_file(job, relative, known.get(relative.as_posix()))
                    job.files_done += 1
                if job.cancel.is_set():
                    job.state = "cancelled"
                elif scope is not None:  # files learned from this folder before and gone now
                    present = {f.as_posix() for f in files}
                    prefix = "" if scope == Path(".") else scope.as_posix().rstrip("/") + "/"
                    for source in known:
                        if source.startswith(prefix) and source not in present:
                            self.memory.delete_source(job.owner, source)
                            job.files_removed += 1
            if job.state != "cancelled":
                job.state = "succeeded"
        except Exception as exc:  # reported to the user through the progress record
            job.state = "failed"
            job.errors.append(f"{type(exc).__name__}: {exc}")
        job.finished_at = time.time()
        return job

    def _index_file(self, job: LearnProgress, relative: Path, known_hash: str | None) -> None:
        path = self.root / relative
        try:
            data = path.read_bytes()
        except OSError as exc:
            job.errors.append(f"{relative.as_posix()}: {exc.strerror}")
            return
        if len(data) > MAX_FILE_BYTES:
            job.errors.append(f"{relative.as_posix()}: larger than {MAX_FILE_BYTES // 1024} KB, skipped")
            return
        digest = hashlib.sha256(data).hexdigest()
        if digest == known_hash:
            job.files_unchanged += 1
            return
        chunks = chunk_file(path.name, data.decode("utf-8", errors="replace"))
        job.chunks_added += self.memory.replace_source(job.owner, relative.as_posix(), digest, chunks)
        job.files_indexed += 1

    def refresh(self, owner: str) -> LearnProgress:
        """Re-check every file the owner learned: re-index changed ones, forget deleted ones."""
        job = LearnProgress(id=uuid.uuid4().hex, owner=owner, target="(refresh)", state="running")
        with self._lock:
            known = self.memory.sources(owner)
            job.files_total = len(known)
            for source, file_hash in known.items():
                path = self.root / source
                if not path.is_file() or self._inside(path) is None:
                    self.memory.delete_source(owner, source)
                    job.files_removed += 1
                else:
                    self._index_file(job, Path(source), file_hash)
                job.files_done += 1
        job.state = "succeeded"
        job.finished_at = time.time()
        return job

    def apply(self, owner: str, changed: list[str], deleted: list[str], folders: set[str]) -> LearnProgress:
        """Files changed on disk (paths relative to the root): re-index those the owner learned or that
        lie in one of the owner's learned ``folders`` (new files too), forget deleted ones. Blocking."""

        def in_folder(path: str) -> bool:
            return any(f in ("", ".") or path.startswith(f.rstrip("/") + "/") for f in folders)

        job = LearnProgress(id=uuid.uuid4().hex, owner=owner, target="(changes)", state="running")
        with self._lock:
            known = self.memory.sources(owner)
            for gone in deleted:  # a file, or a folder: everything learned under it
                for source in [s for s in known if s == gone or s.startswith(gone.rstrip("/") + "/")]:
                    self.memory.delete_source(owner, source)
                    known.pop(source)
                    job.files_removed += 1
            for path in changed:
                if (
                    (path in known or in_folder(path))
                    and self.learnable(path)
                    and (self.root / path).is_file()
                ):
                    job.files_total += 1
                    self._index_file(job, Path(path), known.get(path))
                    job.files_done += 1
        job.state = "succeeded"
        job.finished_at = time.time()
        return job
