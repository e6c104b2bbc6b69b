"""What the user's kernel holds: variables (names, types, shapes, DataFrame columns) and its last error.

The inspection runs as an empty, silent execute request whose one user
expression evaluates a small function in a throw-away namespace: ``silent``
and ``store_history=False`` keep it out of ``In``/``Out``, the execution count
and the notebook; nothing is assigned in the user's namespace. The kernel's
last error comes from ``sys.last_value`` (IPython sets it on every traceback).
"""

from __future__ import annotations

import ast
import asyncio
import json
from typing import Any

_SUMMARIZE = """
def summarize(ns):
    import json, sys, traceback
    out = []
    for name, value in list(ns.items()):
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
        elif isinstance(value, (list, tuple, dict, set)):
            item["len"] = len(value)
        if isinstance(value, (int, float, bool, str)):
            item["value"] = repr(value)[:80]
        out.append(item)
        if len(out) >= 60:
            break
    err = None
    if getattr(sys, "last_value", None) is not None:
        err = "".join(traceback.format_exception(sys.last_type, sys.last_value, sys.last_traceback))
    return json.dumps({"variables": out, "error": err})
"""

EXPRESSION = f"(lambda d: (exec({_SUMMARIZE!r}, d), d['summarize'](globals()))[1])({{}})"


class KernelInspectionError(RuntimeError):
    pass


async def inspect_kernel(kernel_manager: Any, kernel_id: str, timeout: float = 10.0) -> dict[str, Any]:
    """{"variables": [...], "error": traceback text or None} of a running kernel."""
    from jupyter_client.session import Session

    km = kernel_manager.get_kernel(kernel_id)
    # A session of its own: clients sharing the manager's session share its socket identity, and the
    # kernel would route the notebook's own replies to this short-lived client (and lose them after it).
    session = Session(key=km.session.key, signature_scheme=km.session.signature_scheme, username="nexus")
    client = km.client(session=session)
    client.start_channels()
    try:
        await asyncio.wait_for(client.wait_for_ready(timeout=timeout), timeout)
        msg_id = client.execute(
            "", silent=True, store_history=False, user_expressions={"nexus": EXPRESSION}, allow_stdin=False
        )
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise KernelInspectionError("the kernel did not answer in time (is it busy?)")
            reply = await client.get_shell_msg(timeout=remaining)
            if reply.get("parent_header", {}).get("msg_id") == msg_id:
                break
        result = reply["content"].get("user_expressions", {}).get("nexus", {})
        if result.get("status") != "ok":
            raise KernelInspectionError(f"the kernel could not be inspected ({result.get('ename', 'error')})")
        return json.loads(ast.literal_eval(result["data"]["text/plain"]))
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
