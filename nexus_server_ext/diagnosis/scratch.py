"""Run a proposed fix before it is offered: a scratch child process, the kernel's values copied in.

Every fix NEXUS proposes, computed or from a model, is run here first. The fixed cell runs in a
child process on the kernel's own Python (``scratch_child.py``), never in the user's kernel,
seeded with copies of the names it reads (``scratch_seed.py``), within a time and memory limit,
and it may write only inside its own temporary folder. The verdict (``FixCheck``):

- ``verified``: the cell ran to its end without raising; only such a fix is offered with Apply;
- ``failed``: it still raises (which error, on which line);
- ``unverified``: it could not be checked (a value that cannot be copied, a file it writes, the
  time or memory limit), and the verdict says which.

Standard library only (the ``%nexus fix`` magic checks in the kernel's process with the same code).
"""

from __future__ import annotations

import ast
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from . import scratch_child
from .cell_edits import python_only
from .scratch_seed import SEED_FILE, seed

CheckStatus = Literal["verified", "failed", "unverified"]
DEFAULT_TIMEOUT_S = 10.0
DEFAULT_MEMORY_MB = 2048
_THREADS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS")


@dataclass(frozen=True)
class FixCheck:
    """What running a fix in the scratch process showed."""

    status: CheckStatus
    detail: str  # one sentence for the user
    seconds: float = 0.0
    copied: list[str] = field(default_factory=list)  # the kernel's names the run had
    not_copied: dict[str, str] = field(default_factory=dict)  # name -> why it was not copied

    @property
    def verified(self) -> bool:
        return self.status == "verified"

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "detail": self.detail,
            "seconds": self.seconds,
            "copied": self.copied,
            "not_copied": self.not_copied,
        }

    def render_markdown(self) -> str:
        """One line shown with the fix."""
        mark = {"verified": "Checked", "failed": "Check failed", "unverified": "Not checked"}[self.status]
        return f"**{mark}:** {self.detail}"


def names_read(code: str) -> list[str]:
    """The bare names a cell uses, in order: what its check run needs from the kernel."""
    try:
        tree = ast.parse(python_only(code))
    except SyntaxError:
        return []
    found = sorted((n.lineno, n.col_offset, n.id) for n in ast.walk(tree) if isinstance(n, ast.Name))
    return list(dict.fromkeys(name for *_, name in found))


def new_folder() -> Path:
    return Path(tempfile.mkdtemp(prefix="nexus-check-"))


def _command(folder: Path, python: str, timeout_s: float, memory_mb: int) -> list[str]:
    child = str(Path(scratch_child.__file__).resolve())
    return [python, "-I", "-B", child, str(folder), str(int(timeout_s) + 1), str(memory_mb)]


def _environment(folder: Path) -> dict[str, str]:
    """The child's environment: no secrets of the server's, caches and temp files in its folder."""
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "TZ", "SYSTEMROOT")}
    home = str(folder)
    return {**keep, "HOME": home, "TMPDIR": home, "MPLCONFIGDIR": home, "MPLBACKEND": "Agg"} | dict.fromkeys(
        _THREADS, "1"
    )


def _prepare(folder: Path, code: str) -> None:
    (folder / scratch_child.CELL_FILE).write_text(python_only(code))


def _seed_info(folder: Path) -> dict[str, Any]:
    path = folder / SEED_FILE
    try:
        return dict(json.loads(path.read_text())) if path.exists() else {}
    except (OSError, ValueError):
        return {}


def judge(folder: Path, timed_out: bool, seconds: float, timeout_s: float, memory_mb: int) -> FixCheck:
    """The verdict from the child's result file (absent when it was killed)."""
    info = _seed_info(folder)
    not_copied = dict(info.get("missing") or {})
    copied = sorted([*info.get("values", []), *info.get("modules", {}), *info.get("sources", {})])
    seconds = round(seconds, 3)

    def verdict(status: CheckStatus, detail: str) -> FixCheck:
        return FixCheck(status, detail, seconds, copied, not_copied)

    try:
        result = json.loads((folder / scratch_child.RESULT_FILE).read_text())
    except (OSError, ValueError):
        if timed_out:
            return verdict("unverified", f"the fixed cell did not finish within {timeout_s:g} s.")
        return verdict("unverified", f"the check process stopped early (over {memory_mb} MB of memory?)")
    not_copied.update(result.get("not_loaded") or {})
    with_copies = f" with copies of {_names(copied)}" if copied else ""
    if result.get("ok"):
        return verdict("verified", f"the fixed cell runs without error in a separate process{with_copies}.")
    exc_type, message = str(result.get("exc_type")), str(result.get("message") or "")
    if result.get("refused"):
        return verdict("unverified", f"it could not be run safely: {message}.")
    if exc_type == "MemoryError":
        return verdict("unverified", f"it needs more than the check's {memory_mb} MB of memory.")
    missing_name = message.split("'")[1] if exc_type == "NameError" and message.count("'") >= 2 else ""
    if missing_name in not_copied:
        why = not_copied[missing_name]
        return verdict("unverified", f"`{missing_name}` could not be copied from the kernel: {why}.")
    where = f" on line {result['lineno']}" if result.get("lineno") else ""
    line = f": `{result['line']}`" if result.get("line") and "`" not in result["line"] else ""
    error = f"{exc_type}: {message}" if message else exc_type
    return verdict("failed", f"the fixed cell still raises {error}{where}{line}.")


def _names(names: Iterable[str]) -> str:
    shown = [f"`{n}`" for n in names]
    return ", ".join(shown[:6]) + (f" and {len(shown) - 6} more" if len(shown) > 6 else "")


def check_in_process(
    code: str,
    namespace: Mapping[str, Any] | None = None,
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    memory_mb: int = DEFAULT_MEMORY_MB,
) -> FixCheck:
    """Check ``code`` from inside the kernel (the magic): seed from ``namespace``, run, wait."""
    folder = new_folder()
    try:
        _prepare(folder, code)
        if namespace is not None:
            seed(namespace, names_read(code), str(folder))
        started = time.perf_counter()
        timed_out = False
        try:
            subprocess.run(
                _command(folder, sys.executable, timeout_s, memory_mb),
                env=_environment(folder),
                cwd=folder,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=timeout_s,
                start_new_session=True,
                check=False,
            )
        except subprocess.TimeoutExpired:
            timed_out = True
        return judge(folder, timed_out, time.perf_counter() - started, timeout_s, memory_mb)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


async def run_in_folder(folder: Path, code: str, *, timeout_s: float, memory_mb: int) -> FixCheck:
    """The server's check: ``folder`` already holds the seed (if any); never blocks the event loop."""
    _prepare(folder, code)
    python = str(_seed_info(folder).get("python") or sys.executable)
    if not Path(python).exists():
        python = sys.executable
    started = time.perf_counter()
    process = await asyncio.create_subprocess_exec(
        *_command(folder, python, timeout_s, memory_mb),
        env=_environment(folder),
        cwd=folder,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
        start_new_session=True,
    )
    timed_out = False
    try:
        await asyncio.wait_for(process.wait(), timeout_s)
    except asyncio.TimeoutError:
        timed_out = True
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    return judge(folder, timed_out, time.perf_counter() - started, timeout_s, memory_mb)
