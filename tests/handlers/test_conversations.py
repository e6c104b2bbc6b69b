"""The conversations API: what a user sees, what they are refused, and that refusals lose nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import select
from support.identity import HeaderIdentityProvider

from nexus_server_ext.store.models import AuditEvent

API = "nexus/api/v1/conversations"


def body(r: Any) -> Any:
    return json.loads(r.body) if r.body else None


async def test_create_list_get_rename_delete(jp_fetch: Any, nexus_services: Any) -> None:
    r = await jp_fetch(
        API, method="POST", body=json.dumps({"title": "Cleaning sales.csv", "notebook_path": "a.ipynb"})
    )
    assert r.code == 201
    created = body(r)
    cid = created["id"]
    assert created["title"] == "Cleaning sales.csv" and created["message_count"] == 0

    uid = await nexus_services.users.ensure(nexus_services.owner_name)
    await nexus_services.conversations.add_message(uid, cid, "user", "drop empty rows")
    listed = body(await jp_fetch(API))["conversations"]
    assert [(c["id"], c["message_count"]) for c in listed] == [(cid, 1)]

    detail = body(await jp_fetch(API, cid))
    assert [(m["role"], m["content"]) for m in detail["messages"]] == [("user", "drop empty rows")]

    renamed = body(await jp_fetch(API, cid, method="PATCH", body=json.dumps({"title": "Sales cleanup"})))
    assert renamed["title"] == "Sales cleanup"

    r = await jp_fetch(API, cid, method="DELETE")
    assert r.code == 204
    r = await jp_fetch(API, cid, raise_error=False)
    assert r.code == 404 and body(r)["error"] == "not_found"
    assert body(await jp_fetch(API))["conversations"] == []


@pytest.mark.parametrize(
    ("payload", "code", "error", "mentions"),
    [
        (b"{not json", 400, "invalid_json", "not valid JSON"),
        (json.dumps({"title": ""}).encode(), 400, "invalid_request", "title"),
        (json.dumps({"title": "x", "colour": "red"}).encode(), 400, "invalid_request", "colour"),
        (json.dumps({"title": "x" * 20000}).encode(), 413, "payload_too_large", "at most 16.0 KB"),
    ],
)
async def test_bad_input_gets_a_clear_error_and_writes_nothing(
    jp_fetch: Any, payload: bytes, code: int, error: str, mentions: str
) -> None:
    r = await jp_fetch(API, method="POST", body=payload, raise_error=False)
    assert r.code == code
    reply = body(r)
    assert set(reply) == {"error", "message", "request_id"}
    assert reply["error"] == error and mentions in reply["message"]
    assert reply["request_id"] == r.headers["X-Request-Id"]
    assert "Traceback" not in r.body.decode() and "/" not in reply["message"].replace("JSON", "")
    assert body(await jp_fetch(API))["conversations"] == []


async def test_changes_and_refusals_are_audited(jp_fetch: Any, nexus_services: Any) -> None:
    cid = body(await jp_fetch(API, method="POST", body=json.dumps({"title": "t"})))["id"]
    await jp_fetch(API, cid, method="DELETE")
    await jp_fetch(API, method="POST", body=b"{", raise_error=False)
    await nexus_services.drain()
    rows = nexus_services.database.call(
        lambda s: [
            (e.action, e.outcome, e.status_code)
            for e in s.scalars(select(AuditEvent).order_by(AuditEvent.id))
        ]
    )
    assert rows == [("create", "ok", 201), ("delete", "ok", 204), ("create", "refused", 400)]


class TestTwoUsers:
    @pytest.fixture
    def jp_server_config(self, nexus_config: Any) -> dict[str, Any]:
        return nexus_config(server={"identity_provider_class": HeaderIdentityProvider})

    async def test_each_user_sees_only_their_own_conversations(self, jp_fetch: Any) -> None:
        alice = {"Authorization": "token user-alice"}
        bob = {"Authorization": "token user-bob"}
        cid = body(await jp_fetch(API, method="POST", body=json.dumps({"title": "alice's"}), headers=alice))[
            "id"
        ]
        assert body(await jp_fetch(API, headers=bob))["conversations"] == []
        for method, payload in (("GET", None), ("PATCH", json.dumps({"title": "stolen"})), ("DELETE", None)):
            r = await jp_fetch(API, cid, method=method, body=payload, headers=bob, raise_error=False)
            assert r.code == 404, method
        mine = body(await jp_fetch(API, headers=alice))["conversations"]
        assert [(c["id"], c["title"]) for c in mine] == [(cid, "alice's")]
