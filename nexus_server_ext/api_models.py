"""Every JSON payload of the NEXUS REST and websocket API, as pydantic models.

The OpenAPI document is generated from these models, and
``labextension/src/api.ts`` mirrors them: change both together.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

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
