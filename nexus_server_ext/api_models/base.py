"""The base of every API model, and the error body every route answers with."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ApiModel(BaseModel):
    # defer_build: each model compiles its validator on first use, not when a server starts.
    model_config = ConfigDict(extra="forbid", defer_build=True)


class ErrorReply(ApiModel):
    """The body of every NEXUS error response."""

    error: str = Field(description="Machine-readable error code, e.g. `payload_too_large`.")
    message: str = Field(description="What went wrong, in words a person understands.")
    request_id: str = Field(description="Quote this id when reporting a problem; the server log has details.")
