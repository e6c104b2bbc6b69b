"""The scratch process that runs a proposed fix: never the user's kernel, never the user's files.

    python -I -B scratch_child.py FOLDER [CPU_SECONDS MEMORY_MB]

FOLDER holds ``cell.py`` (the fixed cell, magics blanked), and optionally ``seed.json`` and
``values.pickle`` from ``scratch_seed``. The process takes the kernel's ``sys.path`` and working
directory (so the cell reads the files and modules it would read), imports the modules the cell
uses, defines the notebook's functions, loads the copied values, then runs the cell. An audit hook
(PEP 578) refuses what a check must not do: write, move or delete files outside FOLDER, start
processes, or open network connections; the parent limits time and memory. Writes
``FOLDER/result.json`` last. Standard library only: it runs on the kernel's Python.
"""

from __future__ import annotations

import builtins
import contextlib
import importlib
import io
import json
import os
import pickle
import sys
import time
import traceback
import types
from pathlib import Path
from typing import Any

CELL_FILE = "cell.py"
RESULT_FILE = "result.json"
_CELL_NAME = "<cell>"
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
_PATH_EVENTS = {  # event -> indexes of its path arguments
    "os.remove": (0,), "os.rmdir": (0,), "os.mkdir": (0,), "os.rename": (0, 1), "os.chmod": (0,),
    "os.chown": (0,), "os.truncate": (0,), "os.symlink": (0, 1), "os.link": (0, 1), "os.utime": (0,),
    "shutil.rmtree": (0,), "shutil.copyfile": (1,), "shutil.move": (0, 1), "os.removexattr": (0,),
    "os.setxattr": (0,),
}  # fmt: skip
_PROCESS_EVENTS = {
    "subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "os.forkpty",
    "os.kill", "os.killpg", "pty.spawn", "os.startfile",
}  # fmt: skip
_NETWORK_EVENTS = {"socket.connect", "socket.bind", "socket.sendto", "socket.sendmsg"}


class CheckRefused(PermissionError):
    """What the scratch run does not do; the check reports it as "could not be checked"."""


def _guard(allowed: Path) -> Any:
    def inside(path: Any) -> bool:
        if isinstance(path, int):  # an already open descriptor
            return True
        try:
            return Path(os.path.abspath(os.fsdecode(path))).is_relative_to(allowed)
        except (TypeError, ValueError):
            return False

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if event == "open":
            path, mode, flags = (*args, None, None)[:3]
            writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                isinstance(flags, int) and bool(flags & _WRITE_FLAGS)
            )
            if writing and path is not None and not inside(path):
                raise CheckRefused(f"the check does not write files ({os.fsdecode(path)})")
        elif event in _PATH_EVENTS:
            for i in _PATH_EVENTS[event]:
                if i < len(args) and args[i] is not None and not inside(args[i]):
                    raise CheckRefused(f"the check does not change files ({os.fsdecode(args[i])})")
        elif event in _PROCESS_EVENTS:
            raise CheckRefused("the check does not start or signal processes")
        elif event in _NETWORK_EVENTS:
            family = getattr(args[0], "family", None) if args else None
            if family != getattr(__import__("socket"), "AF_UNIX", -1):
                raise CheckRefused("the check does not use the network")

    return hook


def _prepare(folder: Path, namespace: dict[str, Any]) -> dict[str, str]:
    """The kernel's path and folder, then its modules, functions and values; returns what failed."""
    seed_file = folder / "seed.json"
    seed = json.loads(seed_file.read_text()) if seed_file.exists() else {}
    failed: dict[str, str] = {}
    sys.path[:0] = [p for p in seed.get("path", []) if p not in sys.path]
    if seed.get("cwd") and os.path.isdir(seed["cwd"]):
        os.chdir(seed["cwd"])
    for name, module in seed.get("modules", {}).items():
        try:
            namespace[name] = importlib.import_module(module)
        except Exception as exc:
            failed[name] = f"import {module} failed ({type(exc).__name__})"
    for name, source in seed.get("sources", {}).items():
        try:
            exec(compile(source, f"<notebook {name}>", "exec"), namespace)
        except Exception as exc:
            failed[name] = f"its definition raised {type(exc).__name__}"
    values_file = folder / "values.pickle"
    if values_file.exists():
        for name, data in pickle.loads(values_file.read_bytes()).items():
            try:
                namespace[name] = pickle.loads(data)
            except Exception as exc:  # e.g. a class the scratch process cannot import
                failed[name] = f"it could not be loaded ({type(exc).__name__})"
    return failed


def _cell_line(exc: BaseException) -> int | None:
    """The last line of the cell the traceback passes through (the user's line, not a library's)."""
    lineno = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == _CELL_NAME:
            lineno = frame.lineno
    if lineno is None and isinstance(exc, SyntaxError) and exc.filename == _CELL_NAME:
        lineno = exc.lineno
    return lineno


def run(folder: Path) -> dict[str, Any]:
    code = (folder / CELL_FILE).read_text()
    main = types.ModuleType("__main__")  # a clean one: this script's own names are not the cell's
    sys.modules["__main__"] = main  # pickles of the notebook's classes name __main__
    namespace = main.__dict__
    namespace["__builtins__"] = builtins
    builtins.display = lambda *a, **k: None  # type: ignore[attr-defined]  # IPython's, not Python's
    failed = _prepare(folder, namespace)
    sys.addaudithook(_guard(folder.resolve()))
    result: dict[str, Any] = {"ok": False, "not_loaded": failed, "stdout": ""}
    out = io.StringIO()
    started = time.perf_counter()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            exec(compile(code, _CELL_NAME, "exec"), namespace)
        result["ok"] = True
    except BaseException as exc:  # the fix still raises (SystemExit and KeyboardInterrupt included)
        lineno = _cell_line(exc)
        lines = code.splitlines()
        result.update(
            exc_type=type(exc).__name__,
            message=str(exc)[:500],
            lineno=lineno,
            line=lines[lineno - 1].strip() if lineno and 0 < lineno <= len(lines) else "",
            refused=isinstance(exc, CheckRefused) or isinstance(exc.__context__, CheckRefused),
        )
    result["seconds"] = round(time.perf_counter() - started, 3)
    result["stdout"] = out.getvalue()[-2000:]
    return result


def _limit(cpu_s: int, memory_mb: int) -> None:
    """CPU time and address space (the parent also stops it at the wall-clock limit)."""
    try:
        import resource
    except ImportError:  # not on this platform: the parent's timeout still holds
        return
    for kind, value in (
        (resource.RLIMIT_CPU, cpu_s),
        (resource.RLIMIT_AS, memory_mb * 1024**2),
        (resource.RLIMIT_FSIZE, 64 * 1024**2),
        (resource.RLIMIT_CORE, 0),
    ):
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(kind, (value, value))


def main() -> None:
    folder = Path(sys.argv[1])
    if len(sys.argv) > 3:
        _limit(int(sys.argv[2]), int(sys.argv[3]))
    result = run(folder)
    (folder / RESULT_FILE).write_text(json.dumps(result))  # inside FOLDER: the guard allows it


if __name__ == "__main__":
    main()
