"""Copy what a fixed cell reads out of the user's namespace, for the scratch run that checks the fix.

Runs inside the user's kernel: the server sends this file's source with a silent execute request
(``context.kernel_state.seed_kernel``) and the ``%nexus fix`` magic imports it. Standard library
only, since the kernel's environment need not have NEXUS installed. Nothing in the namespace is
changed: values are pickled (a copy, so the check cannot touch them), modules are named so the
scratch process imports them itself, and functions and classes the notebook defined are copied as
source. What cannot be copied is listed with the reason, and the check says so.
"""

from __future__ import annotations

import ast
import inspect
import json
import linecache
import os
import pickle
import sys
import textwrap
import types
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

SEED_FILE = "seed.json"
VALUES_FILE = "values.pickle"
_SKIP = {"In", "Out", "get_ipython", "exit", "quit", "display"}


def _defined_in_notebook(value: Any) -> bool:
    return (inspect.isfunction(value) or inspect.isclass(value)) and value.__module__ == "__main__"


def _globals_used(value: Any) -> set[str]:
    """The global names a notebook function (or a class's methods) refers to."""
    codes = [value.__code__] if inspect.isfunction(value) else []
    if inspect.isclass(value):
        codes = [v.__code__ for v in vars(value).values() if inspect.isfunction(v)]
    found: set[str] = set()
    while codes:
        code = codes.pop()
        found.update(code.co_names)
        codes.extend(c for c in code.co_consts if isinstance(c, types.CodeType))
    return found


def _source(value: Any) -> str | None:
    """A notebook function's or class's source. Classes are found through their methods' cells:
    ``inspect.getsource`` looks for a class in its module's file, and ``__main__`` has none."""
    try:
        return inspect.getsource(value)
    except (OSError, TypeError):
        if not inspect.isclass(value):
            return None
    for member in vars(value).values():
        code = getattr(member, "__code__", None)
        lines = linecache.getlines(code.co_filename) if code is not None else []
        try:
            tree = ast.parse("".join(lines))
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef) and node.name == value.__name__:
                start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
                body = textwrap.dedent("".join(lines[start - 1 : node.end_lineno]))
                return body
    return None


def seed(ns: Mapping[str, Any], names: Iterable[str], folder: str, max_bytes: int = 100 * 1024**2) -> str:
    """Write the copies of ``names`` (and what the notebook functions among them use) to ``folder``;
    returns the seed's description as JSON (also written to ``folder/seed.json``)."""
    values: dict[str, bytes] = {}
    modules: dict[str, str] = {}
    sources: dict[str, str] = {}
    missing: dict[str, str] = {}
    budget = max_bytes
    todo = [n for n in dict.fromkeys(names) if n in ns and n not in _SKIP and not n.startswith("__")]
    seen = set(todo)
    while todo:
        name = todo.pop(0)
        value = ns[name]
        if isinstance(value, types.ModuleType):
            modules[name] = value.__name__
            continue
        if _defined_in_notebook(value):
            source = _source(value)
            if source is None:
                missing[name] = "its source is not available"
                continue
            sources[name] = source
            for used in sorted(_globals_used(value) - seen):
                if used in ns and used not in _SKIP and not used.startswith("__"):
                    seen.add(used)
                    todo.append(used)
            continue
        try:
            data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:  # a generator, an open file, a model holding a lock: not copyable
            missing[name] = f"a {type(value).__name__} cannot be copied ({type(exc).__name__})"
            continue
        if len(data) > budget:
            missing[name] = f"a {type(value).__name__} of {len(data) // 1024**2} MB is too large to copy"
            continue
        budget -= len(data)
        values[name] = data
    out = Path(folder)
    (out / VALUES_FILE).write_bytes(pickle.dumps(values, protocol=pickle.HIGHEST_PROTOCOL))
    info = {
        "python": sys.executable,
        "path": [p for p in sys.path if p],
        "cwd": os.getcwd(),
        "values": sorted(values),
        "modules": modules,
        "sources": sources,
        "missing": missing,
    }
    text = json.dumps(info)
    (out / SEED_FILE).write_text(text)
    return text
