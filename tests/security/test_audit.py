"""The audit log: append-only, prompts withheld unless enabled, retention, admin query API."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from nexus_server_ext.security.audit import AuditImmutable, AuditLog
from nexus_server_ext.store import Database
from nexus_server_ext.store.models import AuditEvent, utcnow


async def test_model_calls_keep_counts_but_not_prompts_unless_enabled(database: Database) -> None:
    quiet = AuditLog(database)
    await quiet.record_model_call(
        username="ann", model="smollm2", provider="local", tokens_in=12, tokens_out=30, prompt="secret plan"
    )
    verbose = AuditLog(database, log_prompts=True)
    await verbose.record_model_call(
        username="bob", model="smollm2", provider="local", tokens_in=1, tokens_out=2, prompt="hello"
    )
    ann = (await quiet.query(username="ann"))[0]
    assert ann.details == {
        "model": "smollm2",
        "provider": "local",
        "task": "chat",
        "tokens_in": 12,
        "tokens_out": 30,
    }
    assert "secret plan" not in json.dumps([e.details for e in await quiet.query()]).replace("hello", "")
    assert (await quiet.query(username="bob"))[0].details["prompt"] == "hello"


async def test_rows_are_append_only(database: Database) -> None:
    audit = AuditLog(database)
    await audit.record(username="ann", action="create", resource="/x", outcome="ok")

    def tamper(session: Any) -> None:
        session.scalars(select(AuditEvent)).one().outcome = "refused"

    with pytest.raises(AuditImmutable):
        await database.run(tamper)

    def remove(session: Any) -> None:
        session.delete(session.scalars(select(AuditEvent)).one())

    with pytest.raises(AuditImmutable):
        await database.run(remove)
    assert [e.outcome for e in await audit.query()] == ["ok"]


async def test_retention_purges_only_old_events(database: Database) -> None:
    audit = AuditLog(database, retention_days=30)
    await audit.record(username="ann", action="create", resource="/old", outcome="ok")
    await audit.record(username="ann", action="create", resource="/new", outcome="ok")
    assert await audit.purge_expired(now=utcnow() + timedelta(days=10)) == 0
    # Pretend 31 days passed for the first row only: purge relative to a later "now".
    first = (await audit.query())[-1]
    assert await audit.purge_expired(now=first.at + timedelta(days=30, seconds=1)) >= 1
    assert await AuditLog(database, retention_days=0).purge_expired() == 0


async def test_admin_queries_audit_log_with_filters(jp_fetch: Any, nexus_services: Any) -> None:
    await jp_fetch("nexus/api/v1/commands/run-cell", method="POST", body="{}")
    await jp_fetch("nexus/api/v1/conversations", method="POST", body=json.dumps({"title": "x"}))
    await nexus_services.drain()
    r = await jp_fetch("nexus/api/v1/audit", params={"action": "command"})
    reply = json.loads(r.body)
    assert reply["retention_days"] == 365 and reply["log_prompts"] is False
    [event] = reply["events"]
    assert event["resource"] == "command:run-cell" and event["outcome"] == "delegated"
    everything = json.loads((await jp_fetch("nexus/api/v1/audit")).body)["events"]
    assert {"command", "create"} <= {e["action"] for e in everything}
    r = await jp_fetch("nexus/api/v1/audit", params={"since": "yesterday"}, raise_error=False)
    assert r.code == 400 and "ISO 8601" in json.loads(r.body)["message"]
