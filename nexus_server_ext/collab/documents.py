"""AI edits made on the server go into the notebook's shared document when it is open.

With jupyter-collaboration, a notebook open in JupyterLab lives in a document
room (jupyter_server_ydoc): writing the file under it would be overwritten by
the room, or would make every collaborator reload. So a server-side edit (a
plugin command, a background task) inserts the cell into the room's Y document
in one transaction: collaborators see it at once, what they type meanwhile is
kept, and the room saves the file. A notebook nobody has open (or a server
without jupyter-collaboration) is edited through the contents manager.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any, Literal

from jupyter_server.utils import ensure_async

log = logging.getLogger(__name__)

Via = Literal["shared-document", "file"]


def attribution(requested_by: str, model: str | None = None) -> dict[str, Any]:
    """The ``metadata.nexus`` of a cell NEXUS wrote: who asked for it, and which model wrote it."""
    meta: dict[str, Any] = {
        "generated": True,
        "requested_by": requested_by,
        "at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    if model:
        meta["model"] = model
    return meta


def new_cell(cell_type: str, source: str, nexus: dict[str, Any]) -> dict[str, Any]:
    import nbformat

    make = nbformat.v4.new_markdown_cell if cell_type == "markdown" else nbformat.v4.new_code_cell
    cell = make(source=source, metadata={"nexus": nexus})
    return dict(cell)


def collaboration(serverapp: Any) -> Any | None:
    """jupyter_server_ydoc's extension when real-time collaboration is on, else None."""
    settings = getattr(getattr(serverapp, "web_app", None), "settings", None) or {}
    ydoc = settings.get("jupyter_server_ydoc")
    if ydoc is None or getattr(ydoc, "disable_rtc", False):
        return None
    return ydoc


class NotebookEditor:
    """Insert cells into notebooks on the server, through the live shared document when there is one."""

    def __init__(self, serverapp: Any) -> None:
        self.serverapp = serverapp

    @property
    def rtc(self) -> bool:
        return collaboration(self.serverapp) is not None

    async def open_document(self, path: str) -> Any | None:
        """The notebook's live Y document if collaborators have it open (its room exists), else None."""
        ydoc = collaboration(self.serverapp)
        if ydoc is None:
            return None
        try:
            return await ydoc.get_document(path=path, content_type="notebook", file_format="json", copy=False)
        except Exception:  # a room that failed to load: fall back to the file, never lose the edit
            log.warning(
                "NEXUS could not reach the shared document of %s; editing the file", path, exc_info=True
            )
            return None

    async def insert_cell(
        self, path: str, source: str, *, cell_type: str, index: int | None, nexus: dict[str, Any]
    ) -> tuple[str, int, Via]:
        """Insert a cell; returns (its id, where it went, how it was written)."""
        cell = new_cell(cell_type, source, nexus)
        document = await self.open_document(path)
        if document is not None:
            cells = document.ycells
            at = len(cells) if index is None else min(index, len(cells))
            with document.ydoc.transaction():
                cells.insert(at, document.create_ycell(cell))
            return str(cell["id"]), at, "shared-document"
        contents = self.serverapp.contents_manager
        model = await ensure_async(contents.get(path, content=True, type="notebook"))
        notebook = model["content"]
        at = len(notebook.cells) if index is None else min(index, len(notebook.cells))
        import nbformat

        notebook.cells.insert(at, nbformat.from_dict(cell))
        await ensure_async(contents.save({"type": "notebook", "format": "json", "content": notebook}, path))
        return str(cell["id"]), at, "file"
