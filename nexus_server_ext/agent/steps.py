"""The data of an agent turn: its approval mode, its steps, what it used, and its limits."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, Literal

Mode = Literal["ask", "auto_edits", "auto"]
RunState = Literal["running", "waiting", "done", "failed", "stopped", "undone"]
StepStatus = Literal["pending", "running", "done", "failed", "rejected", "skipped"]
Decision = Literal["approve", "reject", "approve_rest"]


@dataclass(frozen=True)
class RunLimits:
    max_steps: int = 25
    max_tokens: int = 60_000
    max_seconds: float = 600.0


@dataclass
class Step:
    id: str
    index: int
    tool: str
    kind: str
    arguments: dict[str, Any]
    status: StepStatus = "running"
    summary: str = ""
    cell_id: str | None = None
    diff: str | None = None
    code: str | None = None
    result: str | None = None
    reason: str | None = None
    approved_by: str | None = None
    decision: asyncio.Future[tuple[Decision, str | None, str]] | None = field(default=None, repr=False)


@dataclass
class Usage:
    steps: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    seconds: float = 0.0
