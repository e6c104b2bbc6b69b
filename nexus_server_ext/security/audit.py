"""The audit trail: every change made through NEXUS, and every refusal, as a row in ``audit_events``."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from sqlalchemy import select

from ..store.database import Database
from ..store.models import AuditEvent

log = logging.getLogger(__name__)


class AuditLog:
    def __init__(self, database: Database) -> None:
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
        event = AuditEvent(
            username=username,
            action=action,
            resource=resource,
            outcome=outcome,
            status_code=status_code,
            request_id=request_id,
            details=details or {},
        )
        try:
            async with self._order:
                await self.database.run(lambda s: s.add(event))
        except Exception:  # auditing must never turn a user's success into a failure
            log.exception("could not write the audit event for %s %s", action, resource)

    async def recent(self, username: str | None = None, limit: int = 100) -> list[AuditEvent]:
        def query(session: Any) -> list[AuditEvent]:
            stmt = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
            if username is not None:
                stmt = stmt.where(AuditEvent.username == username)
            return list(session.scalars(stmt))

        return await self.database.run(query)


def audit_action(method: str) -> str:
    return {"POST": "create", "PUT": "update", "PATCH": "update", "DELETE": "delete"}.get(
        method, method.lower()
    )
