"""Memory: learning files, searching, forgetting; feedback and the routing preferences it moves."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .base import ApiModel
from .status import ModelRef

# -- memory, learning and feedback -----------------------------------------------------------------


class LearnRequest(ApiModel):
    path: str = Field(
        min_length=1,
        max_length=1024,
        description="A folder, file or glob under the server root, e.g. `src/**/*.py`.",
    )


class LearnProgressOut(ApiModel):
    id: str
    task_id: str | None = Field(
        default=None, description="The scheduler task running it: cancel with `POST /tasks/{task_id}/cancel`."
    )
    target: str
    state: Literal["pending", "running", "succeeded", "failed", "cancelled"]
    progress: float = Field(description="0..1")
    files_total: int
    files_done: int
    files_indexed: int
    files_unchanged: int
    files_removed: int
    chunks_added: int
    errors: list[str]


class MemoryHitOut(ApiModel):
    source: str
    lines: str | None
    cell_id: str | None
    score: float
    text: str


class MemorySearchReply(ApiModel):
    query: str
    results: list[MemoryHitOut]


class MemoryDeleteReply(ApiModel):
    removed: int = Field(description="How many chunks were forgotten.")


FeedbackKind = Literal["up", "down", "accepted", "rejected", "edited"]


class FeedbackRequest(ApiModel):
    interaction_id: int = Field(ge=1)
    kind: FeedbackKind = Field(description="Thumbs up/down, or what happened to inserted code.")
    comment: str = Field(default="", max_length=2000)
    edited_text: str = Field(
        default="", max_length=100_000, description="For `edited`: the code as the user left it."
    )


class FeedbackReply(ApiModel):
    id: int
    interaction_id: int
    kind: FeedbackKind
    example_saved: bool = Field(description="True when the answer now serves as a few-shot example.")


class RoutingPreferenceOut(ApiModel):
    order: list[ModelRef]
    changed: bool
    reason: str
