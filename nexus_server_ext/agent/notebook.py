"""The agent's view of one notebook: read, edit, snapshot and undo, never over a person's work.

When the notebook is open in JupyterLab (a jupyter-collaboration room), every
operation happens in the room's Y document in one transaction, so collaborators
see it at once and what they type meanwhile is kept; otherwise it is a
read-modify-save through the contents manager. The agent may only edit or
delete a cell whose source is still what it last read or wrote: a person's
newer text is never overwritten. ``restore`` undoes the agent's changes since a
snapshot, and only those: cells a person changed after the agent are kept.
"""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from jupyter_server.utils import ensure_async

from ..collab.documents import NotebookEditor, Via, attribution, new_cell

__all__ = ["AgentNotebook", "CellChanged", "CellNotFound", "CellView", "NotebookSnapshot", "RestoreResult"]


class CellNotFound(LookupError):
    def __init__(self, cell_id: str) -> None:
        super().__init__(f"There is no cell with id '{cell_id}' in the notebook.")
        self.cell_id = cell_id


class CellChanged(RuntimeError):
    """The agent tried to change a cell whose text it has not seen: a person edited it since."""

    def __init__(self, cell_id: str, *, unread: bool = False) -> None:
        if unread:
            message = (
                f"You have not read cell '{cell_id}' yet. Read it before you edit or delete it, "
                "so that nobody's work is overwritten."
            )
        else:
            message = (
                f"A person changed cell '{cell_id}' after you read it, so it was not changed. "
                "Read the cell again and build on their version."
            )
        super().__init__(message)
        self.cell_id = cell_id


@dataclass
class CellView:
    id: str
    index: int
    cell_type: str
    source: str
    outputs: list[dict[str, Any]]
    execution_count: int | None
    metadata: dict[str, Any]


@dataclass(frozen=True)
class NotebookSnapshot:
    """Every cell (nbformat JSON) before a turn; ``mark`` ties it to the agent's changes after it."""

    path: str
    cells: list[dict[str, Any]]
    mark: int = 0

    @property
    def order(self) -> list[str]:
        return [str(c["id"]) for c in self.cells]


@dataclass
class RestoreResult:
    restored: int = 0
    removed: int = 0
    kept: list[str] = field(default_factory=list)


@dataclass
class _Write:
    """The agent's last write to a cell since the latest snapshot, and the cell as it was before."""

    seq: int
    source: str | None  # None: the agent deleted it
    before: dict[str, Any] | None  # None: the agent inserted it
    before_index: int
    moved: bool = False


def _plain(value: Any) -> Any:
    return json.loads(json.dumps(value))


def _text(source: Any) -> str:
    return "".join(source) if isinstance(source, list) else str(source)


class _FileCells:
    """The cells of a notebook read through the contents manager (saved by the caller)."""

    def __init__(self, notebook: Any) -> None:
        import nbformat

        self.notebook, self.changed = notebook, False
        for cell in notebook.cells:
            if not cell.get("id"):  # nbformat < 4.5: give cells the ids the agent addresses them by
                cell["id"] = nbformat.v4.new_code_cell().id
                notebook.nbformat_minor = max(int(notebook.nbformat_minor), 5)
                self.changed = True

    def ids(self) -> list[str]:
        return [str(c["id"]) for c in self.notebook.cells]

    def get(self, index: int) -> dict[str, Any]:
        cell: dict[str, Any] = _plain(self.notebook.cells[index])
        cell["source"] = _text(cell.get("source", ""))
        return cell

    def insert(self, index: int, cell: dict[str, Any]) -> None:
        import nbformat

        self.notebook.cells.insert(index, nbformat.from_dict(copy.deepcopy(cell)))
        self.changed = True

    def pop(self, index: int) -> None:
        del self.notebook.cells[index]
        self.changed = True

    def set_source(self, index: int, source: str, nexus: dict[str, Any]) -> None:
        cell = self.notebook.cells[index]
        cell["source"] = source
        cell.setdefault("metadata", {})["nexus"] = nexus
        self.changed = True

    def set_outputs(self, index: int, outputs: list[dict[str, Any]], execution_count: int | None) -> None:
        import nbformat

        cell = self.notebook.cells[index]
        cell["outputs"] = [nbformat.from_dict(copy.deepcopy(o)) for o in outputs]
        cell["execution_count"] = execution_count
        self.changed = True

    def replace(self, index: int, cell: dict[str, Any]) -> None:
        import nbformat

        self.notebook.cells[index] = nbformat.from_dict(copy.deepcopy(cell))
        self.changed = True


class _SharedCells:
    """The cells of a live shared document (the caller holds a transaction)."""

    def __init__(self, document: Any) -> None:
        self.document = document

    def ids(self) -> list[str]:
        return [str(c.get("id")) for c in self.document.ycells]

    def get(self, index: int) -> dict[str, Any]:
        cell: dict[str, Any] = self.document.get_cell(index)
        cell.setdefault("id", str(self.document.ycells[index].get("id")))  # stripped for nbformat < 4.5
        cell["source"] = _text(cell.get("source", ""))
        return cell

    def insert(self, index: int, cell: dict[str, Any]) -> None:
        self.document.ycells.insert(index, self.document.create_ycell(cell))

    def pop(self, index: int) -> None:
        self.document.ycells.pop(index)

    def set_source(self, index: int, source: str, nexus: dict[str, Any]) -> None:
        from pycrdt import Map

        # the cell's own Y text, changed in place: it keeps its id and collaborators' cursors
        self.document.set_cell(index, source=source)
        ycell = self.document.ycells[index]
        if not isinstance(ycell.get("metadata"), Map):
            ycell["metadata"] = Map({})
        ycell["metadata"]["nexus"] = nexus

    def set_outputs(self, index: int, outputs: list[dict[str, Any]], execution_count: int | None) -> None:
        from pycrdt import Array, Map, Text

        ycell = self.document.ycells[index]
        youtputs = []
        for output in copy.deepcopy(outputs):  # the schema jupyter_ydoc gives outputs: stream text is Y text
            if output.get("output_type") == "stream":
                output["text"] = Text(_text(output.get("text", "")))
            youtputs.append(Map(output))
        if not isinstance(ycell.get("outputs"), Array):
            ycell["outputs"] = Array([])
        ycell["outputs"].clear()
        ycell["outputs"].extend(youtputs)
        ycell["execution_count"] = execution_count

    def replace(self, index: int, cell: dict[str, Any]) -> None:
        from pycrdt import Map

        ycell = self.document.ycells[index]
        if ycell.get("cell_type") != cell["cell_type"] or not isinstance(ycell.get("metadata"), Map):
            self.document.set_cell(index, cell)
            return
        self.document.set_cell(index, source=_text(cell["source"]))
        ycell["metadata"].clear()
        ycell["metadata"].update(copy.deepcopy(cell.get("metadata", {})))
        if cell["cell_type"] == "code":
            self.set_outputs(index, cell.get("outputs", []), cell.get("execution_count"))


_Cells = _FileCells | _SharedCells


def _view(cells: _Cells, index: int) -> CellView:
    cell = cells.get(index)
    return CellView(
        id=str(cell["id"]),
        index=index,
        cell_type=str(cell["cell_type"]),
        source=cell["source"],
        outputs=list(cell.get("outputs") or []),
        execution_count=cell.get("execution_count"),
        metadata=dict(cell.get("metadata") or {}),
    )


def _find(cells: _Cells, cell_id: str) -> int:
    try:
        return cells.ids().index(cell_id)
    except ValueError:
        raise CellNotFound(cell_id) from None


class AgentNotebook:
    """One notebook as one agent turn sees it; keep the instance for the turn's ``restore``."""

    def __init__(
        self,
        serverapp: Any,
        path: str,
        *,
        requested_by: str,
        run_id: str,
        agent: str = "nexus",
        model: str | None = None,
    ) -> None:
        """``requested_by``: the person the agent works for; ``agent``: ``nexus`` (NEXUS's own agent) or the
        outside agent's name (an MCP client): cells read "NEXUS agent for Alice" / "NEXUS for Alice via X"."""
        self.serverapp, self.path = serverapp, path
        self.requested_by, self.agent, self.run_id, self.model = requested_by, agent, run_id, model
        self.via: Via = "file"
        self._editor = NotebookEditor(serverapp)
        self._lock = asyncio.Lock()
        self._seen: dict[str, str] = {}  # cell id -> the source the agent last read or wrote
        self._writes: dict[str, _Write] = {}
        self._seq = 0
        self._mark = 0

    # -- reading --------------------------------------------------------------------------------
    async def cells(self) -> list[CellView]:
        async with self._lock, self._open() as cells:
            views = [_view(cells, i) for i in range(len(cells.ids()))]
        self._seen.update((v.id, v.source) for v in views)
        return views

    async def cell(self, cell_id: str, *, remember: bool = True) -> CellView:
        async with self._lock, self._open() as cells:
            view = _view(cells, _find(cells, cell_id))
        if remember:
            self._seen[view.id] = view.source
        return view

    # -- editing --------------------------------------------------------------------------------
    async def insert(self, source: str, *, cell_type: str = "code", index: int | None = None) -> CellView:
        if cell_type not in ("code", "markdown"):
            raise ValueError(f"A cell is 'code' or 'markdown', not {cell_type!r}.")
        cell = new_cell(cell_type, source, self._nexus())
        async with self._lock, self._open() as cells:
            count = len(cells.ids())
            at = count if index is None else max(0, min(index, count))
            cells.insert(at, cell)
            self._wrote(str(cell["id"]), source, None, at)
            return _view(cells, at)

    async def edit(self, cell_id: str, source: str) -> tuple[str, CellView]:
        async with self._lock, self._open() as cells:
            at = _find(cells, cell_id)
            before = cells.get(at)
            self._check_seen(cell_id, before["source"])
            if before["source"] != source:
                self._wrote(cell_id, source, before, at)
                cells.set_source(at, source, self._nexus())
            return before["source"], _view(cells, at)

    async def delete(self, cell_id: str) -> CellView:
        async with self._lock, self._open() as cells:
            at = _find(cells, cell_id)
            view = _view(cells, at)
            self._check_seen(cell_id, view.source)
            self._wrote(cell_id, None, cells.get(at), at)
            cells.pop(at)
            return view

    async def move(self, cell_id: str, index: int) -> CellView:
        async with self._lock, self._open() as cells:
            at = _find(cells, cell_id)
            to = max(0, min(index, len(cells.ids()) - 1))
            if to != at:
                cell = cells.get(at)
                self._wrote(cell_id, cell["source"], cell, at, moved=True)
                cells.pop(at)
                cells.insert(to, cell)
            return _view(cells, to)

    async def set_outputs(
        self, cell_id: str, outputs: list[dict[str, Any]], execution_count: int | None
    ) -> None:
        async with self._lock, self._open() as cells:
            at = _find(cells, cell_id)
            cell = cells.get(at)
            if cell["cell_type"] != "code":
                raise ValueError(
                    f"Cell '{cell_id}' is a {cell['cell_type']} cell; only code cells have outputs."
                )
            self._wrote(cell_id, cell["source"], cell, at)
            cells.set_outputs(at, outputs, execution_count)

    # -- undo -----------------------------------------------------------------------------------
    async def snapshot(self) -> NotebookSnapshot:
        """The notebook before a turn; the agent's changes from now on are what ``restore`` undoes."""
        async with self._lock, self._open() as cells:
            self._seq += 1
            self._mark = self._seq
            return NotebookSnapshot(self.path, [cells.get(i) for i in range(len(cells.ids()))], self._mark)

    async def restore(self, snapshot: NotebookSnapshot) -> RestoreResult:
        """Undo the agent's changes since ``snapshot`` (the latest one), keeping every cell a person
        changed after the agent: inserted cells go, edited / deleted / moved / run cells come back as
        they were, moved and deleted ones at their place in the snapshot."""
        if snapshot.mark != self._mark or snapshot.path != self.path:
            raise ValueError("Only the latest snapshot of this notebook can be restored.")
        result = RestoreResult()
        async with self._lock, self._open() as cells:
            writes = {cid: w for cid, w in self._writes.items() if w.seq > snapshot.mark}
            place: dict[str, dict[str, Any]] = {}  # cells to put back at their place in the snapshot
            for cid, write in writes.items():
                ids = cells.ids()
                at = ids.index(cid) if cid in ids else None
                if (at is None) != (write.source is None) or (
                    at is not None and cells.get(at)["source"] != write.source
                ):
                    result.kept.append(cid)  # a person changed (or deleted) it after the agent
                    continue
                del self._writes[cid]
                if write.before is None:  # the agent inserted it
                    if at is not None:
                        cells.pop(at)
                        result.removed += 1
                    self._seen.pop(cid, None)
                    continue
                self._seen[cid] = write.before["source"]
                result.restored += 1
                if at is not None and not write.moved:
                    cells.replace(at, write.before)
                elif cid in snapshot.order:
                    if at is not None:
                        cells.pop(at)
                    place[cid] = write.before
                else:  # a cell born during the turn that the agent then moved or deleted
                    if at is not None:
                        cells.pop(at)
                    cells.insert(min(write.before_index, len(cells.ids())), write.before)
            displaced = {cid for cid in result.kept if writes[cid].moved}
            self._put_back(cells, snapshot.order, place, displaced)
        return result

    @staticmethod
    def _put_back(
        cells: _Cells, order: list[str], place: dict[str, dict[str, Any]], displaced: set[str]
    ) -> None:
        """Insert each cell, in snapshot order, after its nearest predecessor in the snapshot that is
        in the notebook (or before its nearest such successor); cells the agent moved and a person then
        changed are not where they were, so nothing is placed by them."""
        for n, cid in enumerate(order):
            if cid not in place:
                continue
            ids = cells.ids()
            anchors = set(ids) - displaced
            before = next((c for c in reversed(order[:n]) if c in anchors), None)
            after = next((c for c in order[n + 1 :] if c in anchors), None)
            if before is not None:
                at = ids.index(before) + 1
            elif after is not None:
                at = ids.index(after)
            else:
                at = min(n, len(ids))
            cells.insert(at, place[cid])

    # -- internals ------------------------------------------------------------------------------
    def _nexus(self) -> dict[str, Any]:
        return {**attribution(self.requested_by, self.model), "agent": self.agent, "agent_run": self.run_id}

    def _check_seen(self, cell_id: str, source: str) -> None:
        seen = self._seen.get(cell_id)
        if seen is None:
            raise CellChanged(cell_id, unread=True)
        if seen != source:
            raise CellChanged(cell_id)

    def _wrote(
        self,
        cell_id: str,
        source: str | None,
        before: dict[str, Any] | None,
        index: int,
        *,
        moved: bool = False,
    ) -> None:
        """Remember the agent's write; the first one since the snapshot keeps the cell as it was."""
        self._seq += 1
        write = self._writes.get(cell_id)
        if write is None or write.seq <= self._mark:
            write = self._writes[cell_id] = _Write(self._seq, source, copy.deepcopy(before), index)
        write.seq, write.source, write.moved = self._seq, source, write.moved or moved
        if source is None:
            self._seen.pop(cell_id, None)
        else:
            self._seen[cell_id] = source

    @asynccontextmanager
    async def _open(self) -> AsyncIterator[_Cells]:
        """The notebook's cells: in the live shared document (one transaction), else from the file,
        saved afterwards when changed (nothing is saved when the block raises)."""
        document = await self._editor.open_document(self.path)
        if document is not None:
            self.via = "shared-document"
            with document.ydoc.transaction():
                yield _SharedCells(document)
            return
        self.via = "file"
        contents = self.serverapp.contents_manager
        model = await ensure_async(contents.get(self.path, content=True, type="notebook"))
        cells = _FileCells(model["content"])
        yield cells
        if cells.changed:
            model = {"type": "notebook", "format": "json", "content": cells.notebook}
            await ensure_async(contents.save(model, self.path))
