"""The child process of the quality set: code under test never runs in the harness process.

    python -I quality_sandbox.py tests FOLDER   # FOLDER holds solution.py and hidden_tests.py
    python -I quality_sandbox.py error FOLDER   # FOLDER holds cell.py

Writes FOLDER/result.json last (what the code prints does not matter; a run that exits early
leaves no result, which the harness counts as a failure). Standard library only, plus, in the
error mode, IPython when it is installed (a notebook user sees IPython's traceback and that is
the error output NEXUS sees; cells are compiled under ipykernel's file names) and what NEXUS's
kernel inspection reports, computed by NEXUS's own inspection code.
"""

from __future__ import annotations

import ast
import json
import os
import sys
import traceback
from pathlib import Path
from typing import Any

MEMORY_LIMIT = 2 * 1024**3


def raises(expected: type[BaseException], func: Any, *args: Any, **kwargs: Any) -> bool:
    """The one helper hidden tests may use: True when ``func(*args)`` raises ``expected``."""
    try:
        func(*args, **kwargs)
    except expected:
        return True
    except Exception:
        return False
    return False


def _limit_memory() -> None:
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    except (ImportError, ValueError, OSError):  # not on this platform: the harness timeout still holds
        pass


def run_tests(folder: Path) -> dict[str, Any]:
    sys.path.insert(0, str(folder))
    source = (folder / "hidden_tests.py").read_text()
    names = [
        node.name
        for node in ast.parse(source).body
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")
    ]
    result: dict[str, Any] = {"imported": False, "tests": {}, "error": None}
    try:
        import solution  # type: ignore[import-not-found]
    except BaseException as exc:  # the answer itself fails (SyntaxError, NameError, sys.exit, ...)
        result["error"] = f"the answer raised {type(exc).__name__}: {exc}"[:500]
        return result
    result["imported"] = True
    namespace = {k: v for k, v in vars(solution).items() if not k.startswith("__")}
    namespace.update(__name__="hidden_tests", raises=raises)
    try:
        exec(compile(source, "hidden_tests.py", "exec"), namespace)
    except BaseException as exc:  # e.g. the tests import a name the answer does not define
        result["error"] = f"the tests could not start: {type(exc).__name__}: {exc}"[:500]
        return result
    for name in names:
        try:
            namespace[name]()
            result["tests"][name] = "passed"
        except BaseException as exc:
            detail = str(exc) or _failing_line(exc)
            result["tests"][name] = f"{type(exc).__name__}: {detail}"[:300]
    return result


def _failing_line(exc: BaseException) -> str:
    """The source line a bare ``assert`` failed on (its message is empty)."""
    frames = traceback.extract_tb(exc.__traceback__)
    return (frames[-1].line or "").strip() if frames else ""


def _innermost_cell_line(tb: Any, filename: str) -> int | None:
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == filename:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _kernel_state(namespace: dict[str, Any]) -> dict[str, Any]:
    """What NEXUS's kernel inspection reports (variables, names, the last error), by its own code."""
    try:
        from nexus_server_ext.context.kernel_state import _SUMMARIZE
    except ImportError:
        return {}
    scope: dict[str, Any] = {}
    exec(_SUMMARIZE, scope)
    return dict(json.loads(scope["summarize"](namespace)))


def capture_error(folder: Path) -> dict[str, Any]:
    code = (folder / "cell.py").read_text()
    try:
        return _ipython_error(code)
    except ImportError:
        return _python_error(code)


def _ipython_error(code: str) -> dict[str, Any]:
    from IPython.core.interactiveshell import InteractiveShell

    try:  # cells compiled as ipykernel compiles them (the file names NEXUS's inspection looks for)
        from ipykernel.compiler import XCachingCompiler

        shell = InteractiveShell.instance(compiler_class=XCachingCompiler)
    except ImportError:
        shell = InteractiveShell.instance()
    try:
        shell.colors = "nocolor"  # IPython 9 names; 8 accepts "NoColor"
    except Exception:
        shell.colors = "NoColor"
    shell.InteractiveTB.set_mode("Context")  # ipykernel's default xmode
    outcome = shell.run_cell(code, store_history=True)
    exc = outcome.error_in_exec
    if exc is None:
        return {"exception": None}
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename == shell.run_code.__code__.co_filename:
        tb = tb.tb_next  # IPython's own exec frame
    cell_file = tb.tb_frame.f_code.co_filename if tb is not None else ""
    lines = shell.InteractiveTB.structured_traceback(type(exc), exc, tb)
    return {
        "exception": type(exc).__name__,
        "message": str(exc),
        "line": _innermost_cell_line(tb, cell_file),
        "traceback": shell.InteractiveTB.stb2text(lines),
        "format": "ipython",
        "kernel_state": _kernel_state(shell.user_ns),
    }


def _python_error(code: str) -> dict[str, Any]:
    import linecache

    filename = "<cell>"
    linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
    namespace = {"__name__": "__main__"}
    try:
        exec(compile(code, filename, "exec"), namespace)
    except Exception as exc:
        tb = exc.__traceback__.tb_next if exc.__traceback__ else None  # skip this function's frame
        text = "".join(traceback.format_exception(type(exc), exc, tb))
        return {
            "exception": type(exc).__name__,
            "message": str(exc),
            "line": _innermost_cell_line(tb, filename),
            "traceback": text,
            "format": "python",
            "kernel_state": {**_kernel_state(namespace), "error": text, "error_is_last": True},
        }
    return {"exception": None}


def main() -> None:
    mode, folder = sys.argv[1], Path(sys.argv[2]).resolve()
    os.chdir(folder)
    _limit_memory()
    result = run_tests(folder) if mode == "tests" else capture_error(folder)
    (folder / "result.json").write_text(json.dumps(result))


if __name__ == "__main__":
    main()
