"""Voice: transcription, command decisions and vocabulary profiles."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from .base import ApiModel

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
