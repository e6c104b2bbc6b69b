"""Pulling a catalogue model from the Hugging Face Hub into NEXUS's data dir: resumable, SHA-256 verified.

``huggingface_hub`` does what it is good at: the Hub's API (``model_info`` with
the file's SHA-256 and size, pinned to the commit it describes), URLs, auth
headers, ``HF_ENDPOINT`` (read here at call time, so a mirror set after import
still counts) and ``http_get``'s retries and ``Range`` requests. NEXUS keeps the
partial file itself: ``hf_hub_download`` writes to a temporary file unique to
its process and deletes it when the download fails, so a cancelled or cut pull
would start again from zero. Here the bytes go to ``<models>/<name>/<file>.part``
beside ``partial.json`` (which SHA-256 they belong to); a later pull of the same
file resumes from them, and a finished one gets its final name only once its
SHA-256 equals the Hub's. ``pulled.json`` then records what was pulled.

Importing this module is cheap: ``huggingface_hub`` is imported when a pull starts.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, BinaryIO, cast

from .._version import __version__
from ..errors import format_size
from .model_catalog import CatalogModel, find_model

# (phase, bytes done, bytes in all): phases ``start``, ``download``, ``verify``, ``done``.
ProgressCallback = Callable[[str, int, int], None]

PULLED_FILE = "pulled.json"
PARTIAL_FILE = "partial.json"
PART_SUFFIX = ".part"
SPACE_MARGIN = 64 * 1024 * 1024  # left free on the disk after a pull
REPORT_EVERY_S = 0.2


class PullError(RuntimeError):
    """A pull that did not finish; the message says why and what to do, in plain words."""


class ChecksumMismatch(PullError):
    """The downloaded bytes are not the file the Hub describes (they were deleted)."""


@dataclass(frozen=True)
class RemoteFile:
    """The file as the Hub describes it at one commit."""

    url: str
    sha256: str
    size: int
    commit: str


@dataclass(frozen=True)
class PulledModel:
    name: str
    path: Path
    sha256: str
    size: int
    repo_id: str
    commit: str


def models_dir(data_dir: str | Path) -> Path:
    return Path(data_dir) / "models"


def model_folder(data_dir: str | Path, name: str) -> Path:
    return models_dir(data_dir) / name


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def pulled_model(data_dir: str | Path, name: str) -> PulledModel | None:
    """The pulled, verified file of catalogue model ``name``, or None (never pulled, or deleted since)."""
    folder = model_folder(data_dir, name)
    record = _read_json(folder / PULLED_FILE)
    if record is None:
        return None
    path = folder / str(record.get("filename", ""))
    if not path.is_file() or path.stat().st_size != record.get("size"):
        return None
    return PulledModel(
        name, path, str(record["sha256"]), int(record["size"]), str(record["repo_id"]), str(record["commit"])
    )


def partial_bytes(data_dir: str | Path, model: CatalogModel) -> int:
    """How much of ``model`` an unfinished pull left behind (the next pull resumes from there)."""
    part = model_folder(data_dir, model.name) / (model.filename + PART_SUFFIX)
    return part.stat().st_size if part.is_file() else 0


def remove_pulled(data_dir: str | Path, name: str) -> bool:
    """Delete a pulled model (and any partial download of it); False when there was nothing."""
    folder = model_folder(data_dir, find_model(name).name)
    if not folder.exists():
        return False
    shutil.rmtree(folder)
    return True


def sha256_file(path: Path, chunk: int = 1024 * 1024) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def hub_endpoint(endpoint: str | None = None) -> str | None:
    """The Hub: ``endpoint``, else ``HF_ENDPOINT`` as it is now (huggingface_hub reads it at import)."""
    return (endpoint or os.environ.get("HF_ENDPOINT") or "").rstrip("/") or None


def remote_file(model: CatalogModel, endpoint: str | None = None) -> RemoteFile:
    """The file's SHA-256, size and download URL, from the Hub's API (pinned to the commit it reports)."""
    from huggingface_hub import HfApi, hf_hub_url

    api = HfApi(endpoint=endpoint, library_name="nexus-jupyter", library_version=__version__)
    with _hub_errors(model, endpoint):
        info = api.model_info(model.repo_id, revision=model.revision, files_metadata=True)
    sibling = next((s for s in info.siblings or [] if s.rfilename == model.filename), None)
    if sibling is None:
        raise PullError(f"{model.repo_id} on the Hub has no file {model.filename} (any more)")
    commit = info.sha or model.revision
    url = hf_hub_url(model.repo_id, model.filename, revision=commit, endpoint=endpoint)
    if sibling.lfs is not None and sibling.lfs.sha256:
        return RemoteFile(
            url=url, sha256=sibling.lfs.sha256.lower(), size=int(sibling.lfs.size), commit=commit
        )
    # No LFS facts in the listing: the file's own headers carry them (the etag of an LFS file is its SHA-256)
    from huggingface_hub import get_hf_file_metadata

    with _hub_errors(model, endpoint):
        meta = get_hf_file_metadata(url, library_name="nexus-jupyter", library_version=__version__)
    etag = (meta.etag or "").lower()
    if len(etag) != 64 or any(c not in "0123456789abcdef" for c in etag) or meta.size is None:
        raise PullError(f"the Hub gives no SHA-256 for {model.filename}, so NEXUS cannot verify it")
    return RemoteFile(url=url, sha256=etag, size=int(meta.size), commit=commit)


@contextlib.contextmanager
def _hub_errors(model: CatalogModel, endpoint: str | None, doing: str = "ask") -> Iterator[None]:
    """huggingface_hub's and the network's exceptions as a ``PullError`` that says what to do."""
    from huggingface_hub import errors

    where = endpoint or "the Hugging Face Hub"
    try:
        yield
    except errors.OfflineModeIsEnabled:
        raise PullError("HF_HUB_OFFLINE is set, so NEXUS may not reach the Hub; unset it to pull") from None
    except errors.RepositoryNotFoundError:
        raise PullError(f"{where} has no repository {model.repo_id} (or it is private)") from None
    except errors.RevisionNotFoundError:
        raise PullError(f"{model.repo_id} has no revision {model.revision!r}") from None
    except errors.HfHubHTTPError as exc:
        status = exc.response.status_code if exc.response is not None else "an error"
        raise PullError(f"could not {doing} {where}: it answered HTTP {status}") from None
    except (PullError, KeyboardInterrupt, SystemExit):
        raise
    except Exception as exc:  # requests' or httpx's network errors, depending on the version
        raise PullError(
            f"could not {doing} {where} ({type(exc).__name__}: {exc}); check the network, or set "
            "HF_ENDPOINT to a mirror"
        ) from None


class _CountingWriter:
    """The partial file as ``http_get`` sees it: every write is counted and reported (throttled)."""

    def __init__(self, raw: BinaryIO, done: int, total: int, report: ProgressCallback) -> None:
        self.raw, self.done, self.total, self.report = raw, done, total, report
        self._last = 0.0

    def write(self, data: bytes) -> int:
        written = self.raw.write(data)
        self.done += len(data)
        now = time.monotonic()
        if now - self._last >= REPORT_EVERY_S:
            self._last = now
            self.report("download", self.done, self.total)
        return written

    def tell(self) -> int:
        return self.raw.tell()

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.raw.seek(offset, whence)

    def truncate(self, size: int | None = None) -> int:
        # the server ignored the Range header: http_get starts the file again
        result = self.raw.truncate(size)
        self.done = self.raw.tell() if size is None else size
        return result

    def flush(self) -> None:
        self.raw.flush()


@contextlib.contextmanager
def _one_pull_at_a_time(folder: Path, model: CatalogModel) -> Iterator[None]:
    from filelock import FileLock, Timeout

    lock = FileLock(str(folder / "pull.lock"), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise PullError(
            f"{model.name} is already being pulled (by another command or the dashboard)"
        ) from None
    try:
        yield
    finally:
        lock.release()


def pull(
    model: CatalogModel,
    data_dir: str | Path,
    *,
    progress: ProgressCallback | None = None,
    endpoint: str | None = None,
) -> PulledModel:
    """Download ``model`` into ``<data_dir>/models/<name>/`` (resuming a partial download) and verify it.

    Raises ``PullError`` (``ChecksumMismatch`` when the bytes are not the Hub's: they are deleted).
    """
    if importlib.util.find_spec("huggingface_hub") is None:
        raise PullError('pulling models needs huggingface_hub: pip install "nexus-jupyter[local]"')
    from huggingface_hub.utils import disable_progress_bars, logging

    disable_progress_bars()  # progress goes to ``progress``, not to huggingface_hub's own bars
    logging.set_verbosity_error()  # and a retried connection is not a warning: the pull goes on
    report = progress or (lambda phase, done, total: None)
    endpoint = hub_endpoint(endpoint)
    folder = model_folder(data_dir, model.name)
    folder.mkdir(parents=True, exist_ok=True)
    with _one_pull_at_a_time(folder, model):
        remote = remote_file(model, endpoint)
        done = pulled_model(data_dir, model.name)
        if done is not None and done.sha256 == remote.sha256:
            report("done", done.size, done.size)
            return done
        part = folder / (model.filename + PART_SUFFIX)
        partial = _read_json(folder / PARTIAL_FILE) or {}
        if partial.get("sha256") != remote.sha256 or (part.is_file() and part.stat().st_size > remote.size):
            part.unlink(missing_ok=True)  # bytes of another version of the file (or none)
        start = part.stat().st_size if part.is_file() else 0
        _write_json(
            folder / PARTIAL_FILE, {"sha256": remote.sha256, "size": remote.size, "commit": remote.commit}
        )
        _check_space(folder, remote.size - start)
        report("start", start, remote.size)
        _download(model, remote, part, start, report, endpoint)
        report("verify", remote.size, remote.size)
        digest = sha256_file(part)
        if digest != remote.sha256:
            part.unlink(missing_ok=True)
            (folder / PARTIAL_FILE).unlink(missing_ok=True)
            raise ChecksumMismatch(
                f"the downloaded {model.filename} does not match the Hub's checksum (SHA-256 "
                f"{digest[:12]}... instead of {remote.sha256[:12]}...); it was deleted. Pull again; if "
                "this repeats, the network or a proxy is altering the download"
            )
        target = folder / model.filename
        os.replace(part, target)
        (folder / PARTIAL_FILE).unlink(missing_ok=True)
        record = {
            "name": model.name,
            "repo_id": model.repo_id,
            "filename": model.filename,
            "commit": remote.commit,
            "sha256": remote.sha256,
            "size": remote.size,
            "pulled_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        _write_json(folder / PULLED_FILE, record)
        report("done", remote.size, remote.size)
        return PulledModel(model.name, target, remote.sha256, remote.size, model.repo_id, remote.commit)


def _check_space(folder: Path, needed: int) -> None:
    free = shutil.disk_usage(folder).free
    if free < needed + SPACE_MARGIN:
        raise PullError(
            f"not enough disk space: the download needs {format_size(needed)} more in the NEXUS data dir, "
            f"and {format_size(free)} is free"
        )


def _download(
    model: CatalogModel,
    remote: RemoteFile,
    part: Path,
    start: int,
    report: ProgressCallback,
    endpoint: str | None,
) -> None:
    """Append the rest of the file to ``part``: a ``Range`` request from ``start`` when there is one."""
    from huggingface_hub.file_download import http_get
    from huggingface_hub.utils import build_hf_headers

    headers = build_hf_headers(library_name="nexus-jupyter", library_version=__version__)
    with part.open("ab") as raw:
        writer = _CountingWriter(cast(BinaryIO, raw), start, remote.size, report)
        try:
            with _hub_errors(model, endpoint, doing="download from"):
                http_get(
                    remote.url,
                    cast(BinaryIO, writer),
                    resume_size=start,
                    headers=headers,
                    expected_size=remote.size,
                )
        except PullError as exc:
            raw.flush()
            kept = part.stat().st_size
            percent = 100 * kept // max(remote.size, 1)
            raise PullError(
                f"the download stopped at {percent}%: {exc}. Pull again to resume from there"
            ) from None
        report("download", writer.done, remote.size)
