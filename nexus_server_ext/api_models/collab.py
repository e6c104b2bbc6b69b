"""Notebook chats and server-side notebook edits (collaboration)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .base import ApiModel

# -- notebook chats (collaboration) -----------------------------------------------------------------
NotebookAction = Literal["inserted", "replaced", "ran"]


class NotebookJoinFrame(ApiModel):
    """Follow a notebook's shared chat live (answered ``notebook.joined``, or ``error`` ``forbidden``)."""

    type: Literal["notebook.join"]
    path: str = Field(min_length=1, max_length=1024)


class NotebookLeaveFrame(ApiModel):
    type: Literal["notebook.leave"]
    path: str = Field(min_length=1, max_length=1024)


class NotebookActivityFrame(ApiModel):
    """Tell the notebook's collaborators what you did with an answer (inserted or ran its code)."""

    type: Literal["notebook.activity"]
    path: str = Field(min_length=1, max_length=1024)
    action: NotebookAction
    message_id: str | None = Field(default=None, max_length=32)
    cell_id: str | None = Field(default=None, max_length=64)


class NotebookJoinedFrame(ApiModel):
    type: Literal["notebook.joined"] = "notebook.joined"
    path: str
    conversation_id: str
    members: list[str] = Field(description="Display names of everyone following this notebook's chat.")


class NotebookMembersFrame(ApiModel):
    """Someone joined or left a notebook's chat."""

    type: Literal["notebook.members"] = "notebook.members"
    path: str
    members: list[str]


class NotebookActivityBroadcastFrame(ApiModel):
    type: Literal["notebook.activity"] = "notebook.activity"
    path: str
    author: str
    action: NotebookAction
    message_id: str | None = None
    cell_id: str | None = None


class NotebookCellInsert(ApiModel):
    """A cell NEXUS adds to a notebook on the server (a plugin command, a background task)."""

    path: str = Field(min_length=1, max_length=1024)
    source: str = Field(max_length=200_000)
    cell_type: Literal["code", "markdown"] = "code"
    index: int | None = Field(default=None, ge=0, description="Where to insert; the end when omitted.")
    model: str | None = Field(default=None, max_length=255, description="The model that wrote it, if any.")


class NotebookCellInserted(ApiModel):
    path: str
    cell_id: str
    index: int
    via: Literal["shared-document", "file"] = Field(
        description="`shared-document`: through the notebook's live collaborative document (everyone "
        "with it open sees the cell at once); `file`: the notebook was not open, the file was updated."
    )
