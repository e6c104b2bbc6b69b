"""Where the pipeline writes down each model answer: one interaction record per answer.

A seam, so that the pipeline does not care where the records live: on the server they are
``interactions`` rows (the learning system, the dashboards, feedback and the tests read them); in a
kernel with no server (``nexus_kernel.inprocess``) they are a short in-memory log, so that
``%nexus feedback`` and ``%nexus history`` can still name the answer they mean.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Protocol

from .types import GenerationMeta, RouteStep

if TYPE_CHECKING:  # the ORM loads only where a database is used
    from ..store.database import Database

log = logging.getLogger(__name__)

__all__ = ["DatabaseInteractions", "InteractionLog", "InteractionRecord", "MemoryInteractions", "describe"]


@dataclass
class InteractionRecord:
    """What one answer did: the columns of an ``interactions`` row."""

    task: str
    outcome: str  # ok | fallback | invalid | cancelled | error
    user_id: int | None = None
    conversation_id: str | None = None
    intent: str | None = None
    provider: str | None = None
    model: str | None = None
    ttft_ms: float | None = None
    latency_ms: float = 0.0
    tokens_in: int = 0
    tokens_out: int = 0
    fallback_path: list[dict[str, Any]] = field(default_factory=list)
    id: int | None = None
    feedback: str | None = None  # up | down, where the log keeps ratings itself (in memory)


class InteractionLog(Protocol):
    """Keeps interaction records; ``record`` returns the new record's id (None: not kept)."""

    async def record(self, entry: InteractionRecord) -> int | None: ...


def describe(
    task: str,
    meta: GenerationMeta | None,
    path: list[RouteStep],
    outcome: str,
    tokens_out: int,
    *,
    started: float,
    user_id: int | None = None,
    conversation_id: str | None = None,
    intent: str | None = None,
) -> InteractionRecord:
    """One answer's record; with no ``meta`` (failed, cancelled) it names the last model that answered."""
    answered = meta or next((p for p in reversed(path) if p["outcome"] == "ok"), None)
    return InteractionRecord(
        task=task,
        outcome=outcome,
        user_id=user_id,
        conversation_id=conversation_id,
        intent=intent,
        provider=meta.provider if meta else answered["provider"] if answered else None,  # type: ignore[index]
        model=meta.model if meta else answered["model"] if answered else None,  # type: ignore[index]
        ttft_ms=meta.ttft_ms if meta else None,
        latency_ms=(time.perf_counter() - started) * 1000,
        tokens_in=meta.tokens_in if meta else 0,
        tokens_out=tokens_out,
        fallback_path=[dict(p) for p in path],
    )


class DatabaseInteractions:
    """One ``interactions`` row per answer: the learning system's, the dashboards' and feedback's raw data."""

    def __init__(self, database: Database) -> None:
        self.database = database

    async def record(self, entry: InteractionRecord) -> int | None:
        from ..store.models import Interaction

        row = Interaction(
            user_id=entry.user_id,
            conversation_id=entry.conversation_id,
            task=entry.task,
            intent=entry.intent,
            provider=entry.provider,
            model=entry.model,
            ttft_ms=entry.ttft_ms,
            latency_ms=entry.latency_ms,
            tokens_in=entry.tokens_in,
            tokens_out=entry.tokens_out,
            outcome=entry.outcome,
            fallback_path=entry.fallback_path,
        )

        def insert(session: Any) -> int:
            session.add(row)
            session.flush()
            return int(row.id)

        try:
            return await self.database.run(insert)
        except Exception:  # the answer still reaches the user when the database is down
            log.exception("NEXUS could not record an interaction")
            return None


class MemoryInteractions:
    """The last ``size`` records with ids counting up from 1: a kernel's own history, no database."""

    def __init__(self, size: int = 200) -> None:
        self.records: deque[InteractionRecord] = deque(maxlen=size)
        self._ids = itertools.count(1)
        self._lock = threading.Lock()  # the magics read it from the kernel's thread, the pipeline writes

    async def record(self, entry: InteractionRecord) -> int | None:
        with self._lock:
            kept = replace(entry, id=next(self._ids))
            self.records.append(kept)
        return kept.id

    def get(self, interaction_id: int | None) -> InteractionRecord | None:
        """The record with this id, while it is among the last ``size``."""
        with self._lock:
            return next((r for r in self.records if r.id == interaction_id), None)

    def rate(self, interaction_id: int | None, kind: str) -> InteractionRecord | None:
        """Keep ``up`` / ``down`` on the record (None when it has left the log, or never was in it)."""
        with self._lock:
            found = next((r for r in self.records if r.id == interaction_id), None)
            if found is not None:
                found.feedback = kind
            return found
