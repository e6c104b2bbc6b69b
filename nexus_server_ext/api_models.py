"""Every JSON payload of the NEXUS REST and websocket API, as pydantic models.

The OpenAPI document is generated from these models, and
``labextension/src/api.ts`` mirrors them: change both together.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class ApiModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorReply(ApiModel):
    """The body of every NEXUS error response."""

    error: str = Field(description="Machine-readable error code, e.g. `payload_too_large`.")
    message: str = Field(description="What went wrong, in words a person understands.")
    request_id: str = Field(description="Quote this id when reporting a problem; the server log has details.")


# -- status -----------------------------------------------------------------------------------------
ComponentState = Literal["ok", "degraded", "unavailable"]


class ComponentStatus(ApiModel):
    name: str
    state: ComponentState
    detail: str = ""
    install_hint: str | None = Field(
        default=None, description="What to install or configure to make this component available."
    )


class StorageStatus(ApiModel):
    backend: Literal["sqlite", "postgresql"] | str
    url: str = Field(description="The database URL with any password hidden.")
    revision: str | None
    healthy: bool


class ModelRef(ApiModel):
    provider: str
    model: str


class TaskRouting(ApiModel):
    task: str
    chain: list[ModelRef]


class StatusReply(ApiModel):
    name: Literal["nexus"] = "nexus"
    version: str
    user: str
    storage: StorageStatus
    components: list[ComponentStatus]
    models: list[TaskRouting]


# -- conversations ----------------------------------------------------------------------------------
class ConversationCreate(ApiModel):
    title: str = Field(default="New conversation", min_length=1, max_length=200)
    notebook_path: str | None = Field(default=None, max_length=1024)


class ConversationUpdate(ApiModel):
    title: str = Field(min_length=1, max_length=200)


class MessageOut(ApiModel):
    id: str
    role: Literal["user", "assistant", "system"]
    content: str
    model: str | None = None
    provider: str | None = None
    created_at: datetime


class ConversationOut(ApiModel):
    id: str
    title: str
    notebook_path: str | None
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


# -- ai engine --------------------------------------------------------------------------------------
GenerateTask = Literal["code_generation", "natural_language", "code_analysis"]


class GenerateContext(ApiModel):
    code: str | None = Field(default=None, max_length=100_000, description="The code the request is about.")
    error: str | None = Field(default=None, max_length=20_000, description="A traceback or error message.")
    notebook_path: str | None = Field(default=None, max_length=1024)


class GenerateRequest(ApiModel):
    task: GenerateTask = "code_generation"
    prompt: str = Field(min_length=1, max_length=20_000)
    context: GenerateContext = Field(default_factory=GenerateContext)
    language: str = Field(default="python", min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_+#.-]+$")
    max_tokens: int | None = Field(
        default=None, ge=1, le=8192, description="At most the task's configured limit."
    )


class RouteStep(ApiModel):
    provider: str
    model: str
    outcome: str = Field(
        description="ok | error | invalid | repaired | unconfigured | blocked | circuit_open"
    )
    error: str | None = None


class GenerateReply(ApiModel):
    code: str
    explanation: str
    language: str
    valid: bool = Field(description="False when no model produced code that passes validation.")
    provider: str
    model: str
    outcome: str = Field(description="ok | fallback | invalid")
    fallback_path: list[RouteStep]
    interaction_id: int | None
    ttft_ms: float | None
    latency_ms: float
    tokens_out: int


class CompleteRequest(ApiModel):
    prefix: str = Field(max_length=100_000)
    suffix: str = Field(default="", max_length=100_000)
    language: str = Field(default="python", min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_+#.-]+$")
    path: str | None = Field(default=None, max_length=1024)
    max_tokens: int | None = Field(default=None, ge=1, le=512)


class CompleteReply(ApiModel):
    completion: str
    provider: str
    model: str
    interaction_id: int | None
    latency_ms: float


class ProviderHealthOut(ApiModel):
    state: Literal["closed", "open", "half_open"] = Field(description="The circuit breaker's state.")
    consecutive_failures: int
    successes: int
    failures: int
    latency_ms: float | None
    ttft_ms: float | None
    last_error: str | None


class ChainStepOut(ApiModel):
    provider: str
    model: str
    kind: str
    state: str = Field(description="usable | unconfigured | blocked | circuit_open | unknown_provider")
    health: ProviderHealthOut | None
    engine: dict[str, str | int | float | None] | None = Field(
        default=None, description="For local providers: state (loaded / loading / not loaded), device, queue."
    )


class TaskLimitsOut(ApiModel):
    timeout_s: float
    max_tokens: int
    latency_budget_ms: float


class TaskChainOut(ApiModel):
    task: str
    limits: TaskLimitsOut
    chain: list[ChainStepOut]


class ModelsReply(ApiModel):
    tasks: list[TaskChainOut]


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
    exclude: list[ContextKind] = Field(
        default_factory=list, description="Context chips the user removed before sending."
    )


class ChatFrame(ApiModel):
    type: Literal["chat"]
    id: str = Field(min_length=1, max_length=64)
    conversation_id: str | None = Field(default=None, max_length=32)
    text: str = Field(min_length=1, max_length=50_000)
    context: ChatContext = Field(default_factory=ChatContext)


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


class ContextItem(ApiModel):
    """One piece of context the answer used, shown to the user as a removable chip."""

    kind: ContextKind
    label: str
    preview: str = ""
    tokens: int = 0
    source: str | None = None


class Citation(ApiModel):
    source: str = Field(description="File path (or notebook path) the retrieved chunk came from.")
    lines: str | None = Field(default=None, description="Line range like `12-40`, for files.")
    cell_id: str | None = None
    score: float = 0.0


class ChatStartedFrame(ApiModel):
    type: Literal["chat.started"] = "chat.started"
    id: str
    conversation_id: str
    intent: str
    context: list[ContextItem] = Field(default_factory=list)


class DeltaFrame(ApiModel):
    type: Literal["chat.delta", "complete.delta"]
    id: str
    text: str


class RestartFrame(ApiModel):
    """The model that was answering failed part-way: discard the text so far, the answer restarts."""

    type: Literal["chat.restart"] = "chat.restart"
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
    fallback_path: list[dict[str, Any]] = Field(default_factory=list)
    citations: list[Citation] = Field(default_factory=list)
    cancelled: bool = False


class CompleteDoneFrame(ApiModel):
    type: Literal["complete.done"] = "complete.done"
    id: str
    text: str
    model: str
    cancelled: bool = False


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
