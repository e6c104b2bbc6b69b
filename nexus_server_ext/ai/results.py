"""What the AI pipeline hands back, and the fallback path it records (router -> API -> ``api.ts``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass, field
from typing import TypeVar

from .postprocess import CodeAnswer
from .types import GenerationMeta, RouteOutcome, RouteStep

__all__ = ["RouteOutcome", "RouteStep"]  # defined with the other AI types; re-exported here

T = TypeVar("T")


def fell_back(path: list[RouteStep]) -> bool:
    """True when a model that should have answered did not (skipping unconfigured ones is not a fallback)."""
    return any(p["outcome"] in ("error", "invalid", "circuit_open", "busy") for p in path)


def mark(path: list[RouteStep], outcome: RouteOutcome, error: str | None = None) -> None:
    """Re-label the step that answered last (its code was invalid, or a repair fixed it)."""
    if path:
        path[-1]["outcome"] = outcome
        if error:
            path[-1]["error"] = error


@dataclass
class GenerateResult:
    code: str
    explanation: str
    language: str
    valid: bool
    provider: str
    model: str
    outcome: str
    fallback_path: list[RouteStep] = field(default_factory=list)
    interaction_id: int | None = None
    ttft_ms: float | None = None
    latency_ms: float = 0.0
    tokens_out: int = 0
    error: str | None = None
    text: str = ""  # the final answer as the model wrote it (prose callers read this)


@dataclass
class Streamed:
    """The end of a streamed answer: what answered (None when cancelled first), how it went, its record."""

    meta: GenerationMeta | None
    fallback_path: list[RouteStep]
    interaction_id: int | None
    latency_ms: float
    outcome: str = "ok"
    text: str = ""  # the answer as it stands at the end (after any restart or repair)
    answer: CodeAnswer | None = None  # its code and explanation (a repair keeps the first explanation)
    error: str | None = None  # why its code is invalid (outcome ``invalid``)
    tokens_out: int = 0  # every answer's tokens, repairs and invalid ones included


@dataclass
class CompleteResult:
    """An inline completion; ``completion`` is empty when there is nothing to show (``suppressed``: the
    gate held back a suggestion the model was unsure of, ``confidence`` below the model's threshold)."""

    completion: str
    provider: str
    model: str
    interaction_id: int | None
    latency_ms: float
    confidence: float | None = None  # ``completion.confidence``: None when the model gave no probabilities
    suppressed: bool = False


async def until(stream: AsyncIterator[T], cancel: asyncio.Event) -> AsyncGenerator[T, None]:
    """Items of ``stream`` until it ends or ``cancel`` is set (even while waiting for the next one)."""
    stopper = asyncio.ensure_future(cancel.wait())
    try:
        while not cancel.is_set():
            step = asyncio.ensure_future(stream.__anext__())
            done, _ = await asyncio.wait({step, stopper}, return_when=asyncio.FIRST_COMPLETED)
            if step not in done:
                step.cancel()
                await asyncio.gather(step, return_exceptions=True)
                return
            try:
                yield step.result()
            except StopAsyncIteration:
                return
    finally:
        stopper.cancel()
