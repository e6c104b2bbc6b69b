"""The audit trail: who did what, as append-only rows in ``audit_events``.

Recorded: every change attempted through the NEXUS API and its outcome (from
``NexusHandler.on_finish``), model calls (model, provider, token counts),
commands run, files written, and admin actions. Prompt text is not recorded
unless an admin turns on ``log_prompts``. Rows are never updated or deleted
through the ORM (a guard refuses it); only the retention purge removes rows
older than ``retention_days``.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, event, select
from sqlalchemy.orm import Session
from traitlets import Bool, Int
from traitlets.config import LoggingConfigurable

from ..store.database import Database
from ..store.models import AuditEvent, utcnow

log = logging.getLogger(__name__)


class AuditImmutable(RuntimeError):
    pass


@event.listens_for(Session, "before_flush")
def _refuse_audit_changes(session: Session, _ctx: Any, _instances: Any) -> None:
    """Append-only: an audit row, once written, is never edited or deleted by application code."""
    for obj in (*session.dirty, *session.deleted):
        if isinstance(obj, AuditEvent) and (obj in session.deleted or session.is_modified(obj)):
            raise AuditImmutable("audit events are append-only")


class AuditLog(LoggingConfigurable):
    retention_days = Int(
        365, help="Audit events older than this many days are deleted (checked daily; 0 keeps them all)."
    ).tag(config=True)
    log_prompts = Bool(
        False,
        help="Store the text of prompts in audit events of model calls (off: only model and token counts).",
    ).tag(config=True)

    def __init__(self, database: Database, **kwargs: Any) -> None:
        """``kwargs``: ``parent``/``config`` or the settings (``log_prompts=True``...)."""
        super().__init__(**kwargs)
        self.database = database
        # Events are written one at a time, in the order requests finished: under load, concurrent
        # worker-thread inserts could otherwise commit a later event before an earlier one.
        self._order = asyncio.Lock()

    async def record(
        self,
        *,
        username: str,
        action: str,
        resource: str,
        outcome: str,
        status_code: int | None = None,
        request_id: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        event_row = AuditEvent(
            username=username,
            action=action,
            resource=resource[:255],
            outcome=outcome,
            status_code=status_code,
            request_id=request_id,
            details=details or {},
        )
        try:
            async with self._order:
                await self.database.run(lambda s: s.add(event_row))
        except Exception:  # auditing must never turn a user's success into a failure
            log.exception("could not write the audit event for %s %s", action, resource)

    async def record_model_call(
        self,
        *,
        username: str,
        model: str,
        provider: str,
        tokens_in: int,
        tokens_out: int,
        task: str = "chat",
        outcome: str = "ok",
        prompt: str | None = None,
    ) -> None:
        """A model call; the prompt is kept only when an admin enabled ``log_prompts``."""
        details: dict[str, Any] = {
            "model": model,
            "provider": provider,
            "task": task,
            "tokens_in": tokens_in,
            "tokens_out": tokens_out,
        }
        if self.log_prompts and prompt is not None:
            details["prompt"] = prompt
        await self.record(
            username=username,
            action="model_call",
            resource=f"model:{provider}/{model}",
            outcome=outcome,
            details=details,
        )

    async def record_command(self, *, username: str, command: str, outcome: str, source: str) -> None:
        await self.record(
            username=username,
            action="command",
            resource=f"command:{command}",
            outcome=outcome,
            details={"source": source},
        )

    async def record_file_write(self, *, username: str, path: str, reason: str) -> None:
        await self.record(
            username=username,
            action="file_write",
            resource=f"file:{path}",
            outcome="ok",
            details={"reason": reason},
        )

    async def query(
        self,
        *,
        username: str | None = None,
        action: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
        before_id: int | None = None,
    ) -> list[AuditEvent]:
        """Newest first; ``before_id`` pages backwards."""

        def run(session: Session) -> list[AuditEvent]:
            stmt = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
            if username is not None:
                stmt = stmt.where(AuditEvent.username == username)
            if action is not None:
                stmt = stmt.where(AuditEvent.action == action)
            if since is not None:
                stmt = stmt.where(AuditEvent.at >= since)
            if until is not None:
                stmt = stmt.where(AuditEvent.at < until)
            if before_id is not None:
                stmt = stmt.where(AuditEvent.id < before_id)
            return list(session.scalars(stmt))

        return await self.database.run(run)

    async def recent(self, username: str | None = None, limit: int = 100) -> list[AuditEvent]:
        return await self.query(username=username, limit=limit)

    async def purge_expired(self, now: datetime | None = None) -> int:
        """Delete events older than ``retention_days`` (0 keeps everything); returns how many went."""
        if self.retention_days <= 0:
            return 0
        cutoff = (now or utcnow()) - timedelta(days=self.retention_days)

        def purge(session: Session) -> int:
            result = session.execute(delete(AuditEvent).where(AuditEvent.at < cutoff))
            return int(getattr(result, "rowcount", 0) or 0)

        count = await self.database.run(purge)
        if count:
            log.info("NEXUS audit retention: removed %d events older than %s", count, cutoff.date())
        return count


def audit_action(method: str) -> str:
    return {"POST": "create", "PUT": "update", "PATCH": "update", "DELETE": "delete"}.get(
        method, method.lower()
    )
