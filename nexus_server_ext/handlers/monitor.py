"""``/metrics/summary`` (the status panel's numbers) and ``/audit`` (the admin's audit-log query)."""

from __future__ import annotations

from datetime import datetime

from jupyter_server.auth.decorator import authorized
from tornado import web

from .. import metrics
from ..api_models import AuditEventOut, AuditList, MetricsSummary
from ..errors import NexusError
from .base import NexusHandler, Operation


class MetricsSummaryHandler(NexusHandler):
    auth_resource = "nexus:status"
    operations = {
        "get": Operation(
            "Recent request rate, latency percentiles, errors, active users, queue depth, memory and "
            "per-model speed, and `series`: the last half hour per interval (latency, time to first "
            "token, tokens/s, fallbacks, repairs, queue depth) for the dashboards. Prometheus scrapes "
            "`/metrics` for the long history.",
            response=MetricsSummary,
        )
    }

    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.write_model(metrics.summary())


def _time_arg(value: str | None, name: str) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise NexusError(400, "invalid_request", f"{name} must be an ISO 8601 time") from None


class AuditHandler(NexusHandler):
    auth_resource = "nexus:admin"
    operations = {
        "get": Operation(
            "Query the audit log (admins): `?user=&action=&since=&until=&limit=&before_id=`, newest first.",
            response=AuditList,
            description="Requires `read` permission on `nexus:admin`.",
        )
    }

    @web.authenticated
    @authorized
    async def get(self) -> None:
        arg = self.get_query_argument
        try:
            limit = max(1, min(1000, int(arg("limit", "100"))))
            before = arg("before_id", None)
            before_id = int(before) if before else None
        except ValueError:
            raise NexusError(400, "invalid_request", "limit and before_id must be numbers") from None
        audit = self.nexus.audit
        events = await audit.query(
            username=arg("user", None) or None,
            action=arg("action", None) or None,
            since=_time_arg(arg("since", None), "since"),
            until=_time_arg(arg("until", None), "until"),
            limit=limit,
            before_id=before_id,
        )
        out = [AuditEventOut.model_validate(e, from_attributes=True) for e in events]
        self.write_model(
            AuditList(events=out, retention_days=audit.retention_days, log_prompts=audit.log_prompts)
        )


default_handlers = [
    (r"/nexus/api/v1/metrics/summary", MetricsSummaryHandler),
    (r"/nexus/api/v1/audit", AuditHandler),
]
