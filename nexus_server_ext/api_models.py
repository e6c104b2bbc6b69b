"""Every JSON payload of the NEXUS REST and websocket API, as pydantic models.

The OpenAPI document is generated from these models, and
``labextension/src/api.ts`` mirrors them: change both together.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints


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


# -- voice ------------------------------------------------------------------------------------------
VoiceTerm = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]


class TranscriptSegment(ApiModel):
    start: float = Field(description="Seconds from the start of the recording.")
    end: float
    text: str
    avg_logprob: float
    no_speech_prob: float


class VoiceCommandOut(ApiModel):
    """The command an utterance maps to; the client runs it (``lab_command``) or hands it to NEXUS."""

    name: str
    title: str
    target: Literal["frontend", "intent", "server"]
    lab_command: str | None = None
    intent: str | None = None
    text: str | None = Field(
        default=None, description="The rest of the utterance for 'generate ...'/'ask ...'."
    )
    destructive: bool = False
    source: str = "nexus"


class VoiceDecision(ApiModel):
    action: Literal["run", "confirm", "none"] = Field(
        description="`run`: do it; `confirm`: ask the user first; "
        "`none`: do nothing (silence, noise, no match)."
    )
    confidence: float = Field(ge=0.0, le=1.0)
    reason: str | None = Field(
        default=None,
        description="Why not `run`: destructive, low_confidence, ambiguous, no_speech, no_match.",
    )
    command: VoiceCommandOut | None = None
    alternatives: list[str] = Field(default_factory=list, description="Next-best command names.")


class TranscriptionReply(ApiModel):
    text: str
    segments: list[TranscriptSegment]
    language: str
    language_probability: float
    duration_s: float
    no_speech_prob: float
    timings_ms: dict[str, float] = Field(
        description="decode_ms, queue_ms, load_ms, transcribe_ms, map_ms, total_ms."
    )
    model: str
    command: VoiceDecision | None = Field(default=None, description="Absent when ?commands=false.")


class VoiceInterpretRequest(ApiModel):
    text: str = Field(min_length=0, max_length=2000, description="A transcript from any recogniser.")


class VoiceProfileIn(ApiModel):
    vocabulary: list[VoiceTerm] = Field(default_factory=list, max_length=200)
    hotwords: list[VoiceTerm] = Field(default_factory=list, max_length=50)
    language: str | None = Field(default=None, pattern=r"^[a-z]{2,3}(-[A-Za-z]{2,4})?$")


class VoiceProfileOut(VoiceProfileIn):
    updated_at: datetime | None = None
