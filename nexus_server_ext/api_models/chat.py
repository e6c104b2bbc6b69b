"""Conversations, the chat REST call, and the websocket protocol (chat, completion, cancel, events)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field

from .ai import RouteStep
from .base import ApiModel


# -- conversations ----------------------------------------------------------------------------------
class ConversationCreate(ApiModel):
    title: str = Field(default="New conversation", min_length=1, max_length=200)
    notebook_path: str | None = Field(default=None, max_length=1024)


class ConversationUpdate(ApiModel):
    title: str = Field(min_length=1, max_length=200)


class Citation(ApiModel):
    source: str = Field(description="File path (or notebook path) the retrieved chunk came from.")
    lines: str | None = Field(default=None, description="Line range like `12-40`, for files.")
    cell_id: str | None = None
    score: float = 0.0


class MessageOut(ApiModel):
    id: str
    role: Literal["user", "assistant", "system"]
    content: str
    model: str | None = None
    provider: str | None = None
    author: str | None = Field(default=None, description="Who asked, in a notebook chat.")
    citations: list[Citation] = Field(
        default_factory=list, description="The learned files an answer cites (its `Sources:` line)."
    )
    created_at: datetime


class ConversationOut(ApiModel):
    id: str
    title: str
    notebook_path: str | None
    shared: bool = Field(
        default=False, description="A notebook chat: everyone who can open the notebook sees it."
    )
    created_at: datetime
    updated_at: datetime
    message_count: int = 0


class ConversationDetail(ConversationOut):
    messages: list[MessageOut]


class ConversationList(ApiModel):
    conversations: list[ConversationOut]


# -- websocket frames -------------------------------------------------------------------------------
class PingFrame(ApiModel):
    type: Literal["ping"]
    id: str | None = Field(default=None, max_length=64)


class PongFrame(ApiModel):
    type: Literal["pong"] = "pong"
    id: str | None = None
    server_time: datetime


class ErrorFrame(ApiModel):
    type: Literal["error"] = "error"
    error: str
    message: str
    id: str | None = None


# -- websocket chat and completion protocol ---------------------------------------------------------
# Client -> server frames carry a client-chosen ``id``; every server frame about that request echoes it.
ContextKind = Literal[
    "cell", "neighbours", "selection", "error", "variables", "diagnostics", "file", "memories"
]


class ChatContext(ApiModel):
    """What the frontend knows about where the user is; the server's context manager fills in the rest."""

    notebook_path: str | None = Field(default=None, max_length=1024)
    cell_id: str | None = Field(default=None, max_length=128)
    selection: str | None = Field(default=None, max_length=20_000)
    kernel_id: str | None = Field(default=None, max_length=64)
    cursor_line: int | None = Field(
        default=None,
        ge=0,
        le=1_000_000,
        description="The cursor's line in the current cell or file (0-based): the language server is asked "
        "about the names on it.",
    )
    exclude: list[ContextKind] = Field(
        default_factory=list, description="Context chips the user removed before sending."
    )


class ChatFrame(ApiModel):
    type: Literal["chat"]
    id: str = Field(min_length=1, max_length=64)
    conversation_id: str | None = Field(default=None, max_length=32)
    text: str = Field(min_length=1, max_length=50_000)
    context: ChatContext = Field(default_factory=ChatContext)
    notebook: str | None = Field(
        default=None,
        min_length=1,
        max_length=1024,
        description="Post to this notebook's shared chat (seen live by everyone who can open the "
        "notebook) instead of a private conversation; `conversation_id` is then ignored.",
    )


class CancelFrame(ApiModel):
    type: Literal["cancel"]
    id: str = Field(
        min_length=1, max_length=64, description="The id of the chat or complete request to stop."
    )


class CompleteFrame(ApiModel):
    """Inline completion; a newer ``complete`` from the same socket cancels the previous one on the server."""

    type: Literal["complete"]
    id: str = Field(min_length=1, max_length=64)
    prefix: str = Field(max_length=20_000)
    suffix: str = Field(default="", max_length=20_000)
    language: str = Field(default="python", max_length=32)
    path: str | None = Field(default=None, max_length=1024)
    cells: list[Annotated[str, Field(max_length=20_000)]] = Field(
        default_factory=list,
        max_length=200,
        description="The notebook's earlier code cells, oldest first: the completion's context.",
    )


class ContextItem(ApiModel):
    """One piece of context the answer used, shown to the user as a removable chip."""

    kind: ContextKind
    label: str
    preview: str = ""
    summary: str = Field(
        default="",
        description="What the piece held, in a few words for the chat panel (the variables' names, "
        "shapes and columns; the cell's number); empty: the label says it.",
    )
    tokens: int = 0
    source: str | None = None


class ChatStartedFrame(ApiModel):
    type: Literal["chat.started"] = "chat.started"
    id: str
    conversation_id: str
    intent: str
    context: list[ContextItem] = Field(default_factory=list)
    author: str | None = Field(default=None, description="Who asked, in a notebook chat.")


class DeltaFrame(ApiModel):
    type: Literal["chat.delta", "complete.delta", "generate.delta"]
    id: str
    text: str


class RestartFrame(ApiModel):
    """The model that was answering failed part-way: discard the text so far, the answer restarts."""

    type: Literal["chat.restart", "generate.restart"] = "chat.restart"
    id: str
    reason: str
    failed_model: str
    next_model: str


class ChatDoneFrame(ApiModel):
    type: Literal["chat.done"] = "chat.done"
    id: str
    conversation_id: str
    message_id: str
    interaction_id: int | None = None
    model: str
    provider: str
    ttft_ms: float | None = None
    latency_ms: float = 0.0
    tokens_out: int = 0
    fallback_path: list[RouteStep] = Field(default_factory=list)
    citations: list[Citation] = Field(default_factory=list)
    cancelled: bool = False


class CompleteDoneFrame(ApiModel):
    """The completion to show (empty: nothing). Deltas come before it only while the gate is off."""

    type: Literal["complete.done"] = "complete.done"
    id: str
    text: str
    model: str
    cancelled: bool = False
    suppressed: bool = Field(
        default=False, description="The model's suggestion was held back: it was unsure of it."
    )


class MessageBroadcastFrame(ApiModel):
    """A message added to a conversation, sent to the user's other tabs (their room)."""

    type: Literal["conversation.message"] = "conversation.message"
    conversation_id: str
    message: MessageOut


class ServerEventFrame(ApiModel):
    """A NEXUS event (task progress, model fallback, voice command) relayed to the user's room."""

    type: Literal["event"] = "event"
    schema_id: str
    data: dict[str, Any]


class SlashCommandOut(ApiModel):
    name: str = Field(description="Typed as `/name` at the start of a chat message.")
    description: str
    source: Literal["nexus", "plugin-intent", "plugin-command"] = "nexus"


class SlashCommandList(ApiModel):
    commands: list[SlashCommandOut]


class ChatRequest(ApiModel):
    text: str = Field(min_length=1, max_length=50_000)
    conversation_id: str | None = Field(default=None, max_length=32)
    context: ChatContext = Field(default_factory=ChatContext)


class ChatReply(ApiModel):
    conversation_id: str
    message_id: str
    interaction_id: int | None
    intent: str
    answer: str
    model: str
    provider: str
    citations: list[Citation]
    context: list[ContextItem] = Field(description="The context the answer used (the chips the user sees).")
    latency_ms: float
