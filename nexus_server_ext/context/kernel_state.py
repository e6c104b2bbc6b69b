"""What the user's kernel holds: variables (names, types, shapes, DataFrame columns) and its last error.

The inspection runs as an empty, silent execute request whose one user
expression evaluates a small function in a throw-away namespace: ``silent``
and ``store_history=False`` keep it out of ``In``/``Out``, the execution count
and the notebook; nothing is assigned in the user's namespace. The kernel's
last error comes from ``sys.last_value`` (IPython sets it on every traceback); ``error_is_last``
says whether the cell that raised is the last one run (``In[-1]``), so an old error is not taken for
the one the user is asking about.
"""

from __future__ import annotations

import ast
import asyncio
import json
from functools import cache
from pathlib import Path
from queue import Empty
from typing import Any

_SUMMARIZE = """
def summarize(ns):
    import difflib, itertools, json, linecache, re, reprlib, sys, traceback
    short = reprlib.Repr()
    short.maxlist = short.maxtuple = short.maxset = short.maxdict = 6
    short.maxstring, short.maxother = 40, 60
    err, last, on_line, hint = None, False, set(), None
    exc = getattr(sys, "last_value", None)
    if exc is not None:
        err = "".join(traceback.format_exception(sys.last_type, exc, sys.last_traceback))
        frames = list(traceback.walk_tb(exc.__traceback__))
        cells = [(f.f_code.co_filename, n) for f, n in frames if "ipykernel_" in f.f_code.co_filename]
        cell = cells[0][0] if cells else getattr(exc, "filename", None) or ""
        source = "".join(linecache.getlines(cell)).rstrip()
        history = ns.get("In") or [""]
        last = bool(source) and str(history[-1]).rstrip() == source
        if cells:  # the failing line's names are summarized first, whatever the cap
            on_line = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", linecache.getline(*cells[-1])))
        if isinstance(exc, AttributeError) and getattr(exc, "obj", None) is not None and exc.name:
            public = [a for a in dir(exc.obj) if not a.startswith("_")]
            hint = (difflib.get_close_matches(exc.name, public, 1, 0.6) or [None])[0]
        elif isinstance(exc, NameError) and getattr(exc, "name", None) and frames:
            frame = frames[-1][0]  # where the name was looked up: its locals, globals and builtins
            seen = set(frame.f_locals) | set(frame.f_globals) | set(frame.f_builtins)
            public = [n for n in seen if not n.startswith("_") and n not in ("In", "Out", "exit", "quit")]
            hint = (difflib.get_close_matches(exc.name, public, 1, 0.6) or [None])[0]
    out = []
    for name, value in sorted(ns.items(), key=lambda item: item[0] not in on_line):
        if name.startswith("_") or name in ("In", "Out", "exit", "quit", "get_ipython"):
            continue
        if callable(value) and not hasattr(value, "shape") or type(value).__name__ == "module":
            continue
        t = type(value)
        qualified = t.__qualname__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__qualname__}"
        item = {"name": name, "type": qualified}
        shape = getattr(value, "shape", None)
        if isinstance(shape, tuple):
            item["shape"] = [int(s) if isinstance(s, int) else str(s) for s in shape]
        dtypes = getattr(value, "dtypes", None)
        if dtypes is not None and hasattr(value, "columns") and hasattr(dtypes, "items"):
            item["columns"] = {str(k): str(v) for k, v in list(dtypes.items())[:50]}
        elif isinstance(value, (list, tuple, dict, set, str)):
            item["len"] = len(value)
        if isinstance(value, dict):
            item["keys"] = [short.repr(k) for k in itertools.islice(value, 20)]
        if value is None or isinstance(value, (int, float, bool, str, list, tuple, dict, set)):
            item["value"] = short.repr(value)
        out.append(item)
        if len(out) >= 60:
            break
    helpers = ("In", "Out", "exit", "quit", "get_ipython")  # IPython's, never what a user misspelt
    names = [n for n in ns if not n.startswith("_") and n not in helpers][:500]
    return json.dumps(
        {
            "variables": out, "names": names, "error": err, "error_is_last": last, "error_hint": hint,
            "error_cell": source if last else "",
        }
    )
"""

EXPRESSION = f"(lambda d: (exec({_SUMMARIZE!r}, d), d['summarize'](globals()))[1])({{}})"


async def notebook_kernel_id(serverapp: Any, path: str | None) -> str | None:
    """The id of the kernel the notebook at ``path`` runs on (its session's), or None."""
    if not path:
        return None
    from jupyter_server.utils import ensure_async

    sessions = await ensure_async(serverapp.session_manager.list_sessions())
    for session in sessions:
        if session.get("path") == path and session.get("kernel"):
            return str(session["kernel"]["id"])
    return None


class KernelInspectionError(RuntimeError):
    pass


async def inspect_kernel(kernel_manager: Any, kernel_id: str, timeout: float = 10.0) -> dict[str, Any]:
    """{"variables": [...], "error": traceback text or None} of a running kernel."""
    return json.loads(await evaluate(kernel_manager, kernel_id, EXPRESSION, timeout))


async def seed_kernel(
    kernel_manager: Any, kernel_id: str, names: list[str], folder: str, max_bytes: int, timeout: float = 5.0
) -> dict[str, Any]:
    """Have the kernel copy ``names`` into ``folder`` for a fix's scratch run (``diagnosis.scratch``);
    returns the seed's description (what was copied, what was not and why)."""
    source = _seed_source()
    call = f"d['seed'](globals(), {names!r}, {folder!r}, {max_bytes!r})"
    expression = f"(lambda d: (exec({source!r}, d), {call})[1])({{}})"
    return dict(json.loads(await evaluate(kernel_manager, kernel_id, expression, timeout)))


@cache
def _seed_source() -> str:
    """``diagnosis/scratch_seed.py``'s source, sent to the kernel (which need not have NEXUS installed)."""
    from ..diagnosis import scratch_seed

    return Path(scratch_seed.__file__).read_text(encoding="utf-8")


async def evaluate(kernel_manager: Any, kernel_id: str, expression: str, timeout: float) -> str:
    """The string an expression evaluates to in a running kernel, asked silently (``user_expressions``
    of an empty execute request: nothing enters the history or the user's namespace)."""
    from jupyter_client.session import Session

    km = kernel_manager.get_kernel(kernel_id)
    # A session of its own: clients sharing the manager's session share its socket identity, and the
    # kernel would route the notebook's own replies to this short-lived client (and lose them after it).
    session = Session(key=km.session.key, signature_scheme=km.session.signature_scheme, username="nexus")
    client = km.client(session=session)
    client.start_channels()
    try:
        # Shell requests queue until the socket connects: no wait_for_ready (it drains the output
        # channel until 0.2 s of quiet, which was most of an inspection's cost).
        msg_id = client.execute(
            "", silent=True, store_history=False, user_expressions={"nexus": expression}, allow_stdin=False
        )
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise KernelInspectionError("the kernel did not answer in time (is it busy?)")
            try:
                reply = await client.get_shell_msg(timeout=remaining)
            except Empty:
                raise KernelInspectionError("the kernel did not answer in time (is it busy?)") from None
            if reply.get("parent_header", {}).get("msg_id") == msg_id:
                break
        result = reply["content"].get("user_expressions", {}).get("nexus", {})
        if result.get("status") != "ok":
            raise KernelInspectionError(f"the kernel could not be inspected ({result.get('ename', 'error')})")
        return str(ast.literal_eval(result["data"]["text/plain"]))
    finally:
        client.stop_channels()


def render_variables(variables: list[dict[str, Any]]) -> str:
    lines = []
    for v in variables:
        parts = [f"{v['name']}: {v['type']}"]
        if "shape" in v:
            parts.append(f"shape={tuple(v['shape'])}")
        if "len" in v:
            parts.append(f"len={v['len']}")
        if "value" in v:
            parts.append(f"= {v['value']}")
        if "columns" in v:
            parts.append("columns: " + ", ".join(f"{k} ({t})" for k, t in v["columns"].items()))
        lines.append(" ".join(parts))
    return "\n".join(lines)


def summarize_variables(variables: list[dict[str, Any]], most: int = 6, columns: int = 4) -> str:
    """The variables in one short line for the chat panel: ``df (DataFrame 3x2: sales, region), x``
    (with a multiplication sign). Arrays and tables say their shape (and a table its first columns);
    other values just their name."""
    parts = []
    for v in variables[:most]:
        kind = str(v["type"]).rsplit(".", 1)[-1]
        shape = "\N{MULTIPLICATION SIGN}".join(str(s) for s in v.get("shape") or [])
        if "columns" in v:
            names = list(v["columns"])
            more = ", …" if len(names) > columns else ""
            parts.append(f"{v['name']} ({kind} {shape}: {', '.join(names[:columns])}{more})")
        elif shape:
            parts.append(f"{v['name']} ({kind} {shape})")
        else:
            parts.append(str(v["name"]))
    if len(variables) > most:
        parts.append(f"and {len(variables) - most} more")
    return ", ".join(parts)
