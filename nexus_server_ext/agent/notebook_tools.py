"""The built-in agent tools: read the notebook, the kernel, memory and files; edit and run cells.

Everything a tool returns to the model is data about the notebook. Long text is
cut (head and tail kept), images are described by type and size, and nothing
a tool reads can change the turn's approval mode or what the tools may touch:
those live in the run, out of the model's reach.
"""

from __future__ import annotations

import difflib
import posixpath
from typing import Any

from jupyter_server.utils import ensure_async
from tornado import web

from .outputs import Execution, clip
from .tools import Preview, Tool, ToolContext, ToolError, ToolOutcome, ToolRegistry

# How much of a cell, an output or a file the model gets to read in one call.
SOURCE_LIMIT = 6000
OUTLINE_SOURCE_LIMIT = 600
FILE_LIMIT = 8000


def outputs_text(outputs: list[dict[str, Any]], limit: int) -> str:
    """A cell's outputs as the model reads them (the kernel module's own summary of an execution)."""
    if not outputs:
        return ""
    errors = [o for o in outputs if o.get("output_type") == "error"]
    error = (
        {"ename": errors[0].get("ename", ""), "evalue": errors[0].get("evalue", ""), "traceback": []}
        if errors
        else None
    )
    execution = Execution("error" if error else "ok", outputs, None, error)
    return execution.summary(limit)


def _cell_text(cell: Any, limit: int) -> str:
    head = f"[cell {cell.id}] #{cell.index} {cell.cell_type}"
    if cell.execution_count is not None:
        head += f", run as In[{cell.execution_count}]"
    text = f"{head}\n{clip(cell.source, limit)}"
    shown = outputs_text(cell.outputs, max(400, limit // 2)) if cell.cell_type == "code" else ""
    return text + (f"\n[outputs]\n{shown}" if shown else "")


def unified_diff(before: str, after: str, name: str) -> str:
    lines = difflib.unified_diff(
        before.splitlines(keepends=True),
        after.splitlines(keepends=True),
        f"{name} (before)",
        f"{name} (after)",
    )
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def _no_cell(exc: LookupError) -> ToolError:
    return ToolError(str(exc.args[0]) if exc.args else "There is no such cell.")


# -- read ------------------------------------------------------------------------------------------
async def read_notebook(ctx: ToolContext, args: dict[str, Any]) -> ToolOutcome:
    cells = await ctx.notebook.cells()
    if not cells:
        return ToolOutcome("The notebook has no cells.", "read the notebook (empty)")
    body = "\n\n".join(_cell_text(c, OUTLINE_SOURCE_LIMIT) for c in cells)
    return ToolOutcome(
        f"{ctx.notebook.path}: {len(cells)} cells\n\n{body}", f"read the notebook ({len(cells)} cells)"
    )


async def read_cell(ctx: ToolContext, args: dict[str, Any]) -> ToolOutcome:
    try:
        cell = await ctx.notebook.cell(args["cell_id"])
    except LookupError as exc:
        raise _no_cell(exc) from None
    return ToolOutcome(_cell_text(cell, SOURCE_LIMIT), f"read cell #{cell.index}", cell_id=cell.id)


async def inspect_variables(ctx: ToolContext, args: dict[str, Any]) -> ToolOutcome:
    from ..context.kernel_state import KernelInspectionError, inspect_kernel, render_variables

    kernel = await ctx.kernel()
    try:
        state = await inspect_kernel(kernel.kernel_manager, kernel.kernel_id)
    except (KernelInspectionError, TimeoutError) as exc:
        raise ToolError(f"The kernel could not be inspected: {exc}") from None
    variables = state.get("variables") or []
    wanted = set(args.get("names") or [])
    if wanted:
        variables = [v for v in variables if v.get("name") in wanted]
        missing = wanted - {v.get("name") for v in variables}
    else:
        missing = set()
    text = render_variables(variables) or "The kernel holds no variables."
    if missing:
        text += "\nNot defined: " + ", ".join(sorted(missing))
    if state.get("error"):
        text += "\n\nThe kernel's last error:\n" + clip(str(state["error"]), 1500)
    return ToolOutcome(text, f"inspected {len(variables)} variables")


async def search_memory(ctx: ToolContext, args: dict[str, Any]) -> ToolOutcome:
    if ctx.search_memory is None:
        raise ToolError("Memory search is not available on this server.")
    hits = await ctx.search_memory(ctx.owner, args["query"], int(args.get("k") or 4))
    if not hits:
        return ToolOutcome("Nothing in memory matches.", "searched memory (nothing found)")
    parts = [f"[{h.citation()}]\n{clip(str(getattr(h, 'text', '')), 1500)}" for h in hits]
    return ToolOutcome("\n\n".join(parts), f"searched memory ({len(hits)} found)")


def clean_path(path: str) -> str:
    clean = posixpath.normpath(path.strip().replace("\\", "/")).lstrip("/")
    if clean.startswith("..") or "\x00" in clean:
        raise ToolError("Give a path under the server's root folder.")
    return "" if clean == "." else clean


async def read_file(ctx: ToolContext, args: dict[str, Any]) -> ToolOutcome:
    path = clean_path(args["path"])
    contents = ctx.contents_manager
    try:
        model = await ensure_async(contents.get(path, content=True))
    except web.HTTPError as exc:
        raise ToolError(
            f"Cannot read {path or 'the root folder'!r}: {exc.log_message or exc.reason}"
        ) from None
    if model["type"] == "directory":
        names = [f"{c['name']}/" if c["type"] == "directory" else c["name"] for c in model["content"]]
        listing = "\n".join(sorted(names)[:200]) or "(empty)"
        return ToolOutcome(f"{path or '.'}/:\n{listing}", f"listed {path or 'the root folder'}")
    if model["type"] == "notebook":
        cells = model["content"].get("cells", [])
        text = "\n\n".join(f"[{c.get('cell_type')}]\n{c.get('source', '')}" for c in cells)
    elif model.get("format") == "base64":
        return ToolOutcome(
            f"{path} is a binary file ({model.get('size') or '?'} bytes).", f"looked at {path}"
        )
    else:
        text = str(model["content"])
    return ToolOutcome(clip(text, FILE_LIMIT), f"read {path}")


# -- edit ------------------------------------------------------------------------------------------
async def _cell_or_error(ctx: ToolContext, cell_id: str) -> Any:
    try:
        return await ctx.notebook.cell(cell_id, remember=False)
    except LookupError as exc:
        raise _no_cell(exc) from None


async def preview_insert(ctx: ToolContext, args: dict[str, Any]) -> Preview:
    where = f" at #{args['index']}" if args.get("index") is not None else " at the end"
    return Preview(
        f"insert a {args.get('cell_type', 'code')} cell{where}",
        diff=unified_diff("", args["source"], "new cell"),
    )


async def insert_cell(ctx: ToolContext, args: dict[str, Any]) -> ToolOutcome:
    cell = await ctx.notebook.insert(
        args["source"], cell_type=args.get("cell_type", "code"), index=args.get("index")
    )
    return ToolOutcome(
        f"Inserted {cell.cell_type} cell {cell.id} at index {cell.index}.",
        f"inserted cell #{cell.index}",
        cell_id=cell.id,
    )


async def preview_edit(ctx: ToolContext, args: dict[str, Any]) -> Preview:
    cell = await _cell_or_error(ctx, args["cell_id"])
    return Preview(
        f"edit cell #{cell.index}",
        cell_id=cell.id,
        diff=unified_diff(cell.source, args["source"], f"cell #{cell.index}"),
    )


async def edit_cell(ctx: ToolContext, args: dict[str, Any]) -> ToolOutcome:
    from .notebook import CellChanged

    try:
        old, cell = await ctx.notebook.edit(args["cell_id"], args["source"])
    except CellChanged as exc:
        raise ToolError(str(exc)) from None
    except LookupError as exc:
        raise _no_cell(exc) from None
    if old == cell.source:
        return ToolOutcome(
            f"Cell {cell.id} already had that source.", f"cell #{cell.index} unchanged", cell.id
        )
    return ToolOutcome(
        f"Cell {cell.id} now holds the new source.", f"edited cell #{cell.index}", cell_id=cell.id
    )


async def preview_delete(ctx: ToolContext, args: dict[str, Any]) -> Preview:
    cell = await _cell_or_error(ctx, args["cell_id"])
    return Preview(
        f"delete cell #{cell.index}",
        cell_id=cell.id,
        diff=unified_diff(cell.source, "", f"cell #{cell.index}"),
    )


async def delete_cell(ctx: ToolContext, args: dict[str, Any]) -> ToolOutcome:
    from .notebook import CellChanged

    try:
        cell = await ctx.notebook.delete(args["cell_id"])
    except CellChanged as exc:
        raise ToolError(str(exc)) from None
    except LookupError as exc:
        raise _no_cell(exc) from None
    return ToolOutcome(f"Deleted cell {cell.id}.", f"deleted cell #{cell.index}", cell_id=cell.id)


async def preview_move(ctx: ToolContext, args: dict[str, Any]) -> Preview:
    cell = await _cell_or_error(ctx, args["cell_id"])
    return Preview(f"move cell #{cell.index} to #{args['index']}", cell_id=cell.id)


async def move_cell(ctx: ToolContext, args: dict[str, Any]) -> ToolOutcome:
    try:
        cell = await ctx.notebook.move(args["cell_id"], int(args["index"]))
    except LookupError as exc:
        raise _no_cell(exc) from None
    return ToolOutcome(
        f"Moved cell {cell.id} to index {cell.index}.", f"moved a cell to #{cell.index}", cell.id
    )


# -- run -------------------------------------------------------------------------------------------
async def preview_run(ctx: ToolContext, args: dict[str, Any]) -> Preview:
    cell = await _cell_or_error(ctx, args["cell_id"])
    if cell.cell_type != "code":
        raise ToolError(f"Cell {cell.id} is a {cell.cell_type} cell; only code cells run.")
    return Preview(f"run cell #{cell.index}", cell_id=cell.id, code=cell.source)


async def run_cell(ctx: ToolContext, args: dict[str, Any]) -> ToolOutcome:
    cell = await _cell_or_error(ctx, args["cell_id"])
    if cell.cell_type != "code":
        raise ToolError(f"Cell {cell.id} is a {cell.cell_type} cell; only code cells run.")
    kernel = await ctx.kernel()
    if ctx.before_run is not None:
        await ctx.before_run()
    if ctx.on_execute is not None:
        ctx.on_execute(True)
    try:
        execution = await kernel.execute(cell.source, timeout=ctx.run_timeout_s)
    finally:
        if ctx.on_execute is not None:
            ctx.on_execute(False)
    await ctx.notebook.set_outputs(cell.id, execution.outputs, execution.execution_count)
    head = f"Ran cell {cell.id} (In[{execution.execution_count}]): {execution.status}"
    shown = execution.summary(SOURCE_LIMIT)
    failed = execution.status != "ok"
    summary = f"ran cell #{cell.index}: " + (
        "ok" if not failed else (execution.error or {}).get("ename") or execution.status
    )
    return ToolOutcome(
        head + (f"\n{shown}" if shown else "\n(no output)"), summary, cell_id=cell.id, failed=failed
    )


CELL_ID = {"type": "string", "minLength": 1, "maxLength": 64, "description": "The cell's id."}

BUILTIN_TOOLS: tuple[Tool, ...] = (
    Tool(
        "read_notebook",
        "Read the notebook: every cell's id, type, source (long ones cut) and outputs.",
        {"type": "object", "properties": {}, "additionalProperties": False},
        "read",
        read_notebook,
    ),
    Tool(
        "read_cell",
        "Read one cell in full: its source and its outputs (errors included).",
        {
            "type": "object",
            "properties": {"cell_id": CELL_ID},
            "required": ["cell_id"],
            "additionalProperties": False,
        },
        "read",
        read_cell,
    ),
    Tool(
        "inspect_variables",
        "List the kernel's variables (types, shapes, DataFrame columns) and its last error, without running "
        "anything in the notebook.",
        {
            "type": "object",
            "properties": {"names": {"type": "array", "items": {"type": "string"}, "maxItems": 50}},
            "additionalProperties": False,
        },
        "read",
        inspect_variables,
    ),
    Tool(
        "search_memory",
        "Search what the user taught NEXUS (their files and notes) for a query.",
        {
            "type": "object",
            "properties": {
                "query": {"type": "string", "minLength": 1, "maxLength": 2000},
                "k": {"type": "integer", "minimum": 1, "maximum": 10},
            },
            "required": ["query"],
            "additionalProperties": False,
        },
        "read",
        search_memory,
    ),
    Tool(
        "read_file",
        "Read a text file, or list a folder, under the server's root folder ('' is the root).",
        {
            "type": "object",
            "properties": {"path": {"type": "string", "maxLength": 1024}},
            "required": ["path"],
            "additionalProperties": False,
        },
        "read",
        read_file,
    ),
    Tool(
        "insert_cell",
        "Insert a new cell (at `index`, or at the end).",
        {
            "type": "object",
            "properties": {
                "source": {"type": "string", "maxLength": 100_000},
                "cell_type": {"type": "string", "enum": ["code", "markdown"]},
                "index": {"type": "integer", "minimum": 0},
            },
            "required": ["source"],
            "additionalProperties": False,
        },
        "edit",
        insert_cell,
        preview_insert,
    ),
    Tool(
        "edit_cell",
        "Replace a cell's source. Fails if a person changed the cell since you read it: read it again.",
        {
            "type": "object",
            "properties": {"cell_id": CELL_ID, "source": {"type": "string", "maxLength": 100_000}},
            "required": ["cell_id", "source"],
            "additionalProperties": False,
        },
        "edit",
        edit_cell,
        preview_edit,
    ),
    Tool(
        "delete_cell",
        "Delete a cell.",
        {
            "type": "object",
            "properties": {"cell_id": CELL_ID},
            "required": ["cell_id"],
            "additionalProperties": False,
        },
        "edit",
        delete_cell,
        preview_delete,
    ),
    Tool(
        "move_cell",
        "Move a cell to another index.",
        {
            "type": "object",
            "properties": {"cell_id": CELL_ID, "index": {"type": "integer", "minimum": 0}},
            "required": ["cell_id", "index"],
            "additionalProperties": False,
        },
        "edit",
        move_cell,
        preview_move,
    ),
    Tool(
        "run_cell",
        "Run a code cell in the notebook's kernel and return its outputs (or its error).",
        {
            "type": "object",
            "properties": {"cell_id": CELL_ID},
            "required": ["cell_id"],
            "additionalProperties": False,
        },
        "run",
        run_cell,
        preview_run,
    ),
)


def notebook_tools() -> ToolRegistry:
    return ToolRegistry(BUILTIN_TOOLS)
