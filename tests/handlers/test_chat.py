"""``/chat``, ``/memory`` and ``/feedback`` with the real model, real chromadb and two users."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from support.identity import HeaderIdentityProvider

from nexus_server_ext.store.models import Message

ALICE = {"Authorization": "token user-alice"}
BOB = {"Authorization": "token user-bob"}

ROUTING = """
providers:
  local: {kind: local, model: "bundled:SmolLM2-135M-Instruct"}
tasks:
  natural_language:
    chain:
      - {provider: local, model: SmolA}
      - {provider: local, model: SmolB}
    limits: {timeout_s: 300, max_tokens: 6}
  code_generation:
    chain: [{provider: local, model: SmolA}]
    limits: {timeout_s: 300, max_tokens: 6}
"""

SALES = '''def load_sales(path):
    """Read the quarterly sales CSV."""
    return open(path).read()


class TaxCalculator:
    """Compute value added tax (VAT) for invoices."""

    def tax(self, amount):
        return amount * 0.2
'''


@pytest.fixture
def jp_server_config(nexus_config: Any) -> dict[str, Any]:
    return nexus_config(
        routing=ROUTING,
        server={"identity_provider_class": HeaderIdentityProvider},
        other={"IntentClassifier": {"llm_tie_breaker": False}, "ConsciousnessCore": {"max_tokens": 6}},
    )


def body(r: Any) -> Any:
    return json.loads(r.body)


async def post(jp_fetch: Any, path: str, payload: Any, headers: dict[str, str], **kw: Any) -> Any:
    kw.setdefault("request_timeout", 300)  # the first request loads the model
    return await jp_fetch(path, method="POST", body=json.dumps(payload), headers=headers, **kw)


async def learn(jp_fetch: Any, path: str, headers: dict[str, str]) -> dict[str, Any]:
    r = await post(jp_fetch, "nexus/api/v1/memory/learn", {"path": path}, headers)
    assert r.code == 202
    job = body(r)
    for _ in range(600):
        job = body(await jp_fetch("nexus/api/v1/memory/learn", job["id"], headers=headers))
        if job["state"] in ("succeeded", "failed"):
            return job
        await asyncio.sleep(0.1)
    raise AssertionError("learning did not finish")


async def test_learn_ask_cite_and_isolation(jp_fetch: Any, jp_root_dir: Path) -> None:
    (jp_root_dir / "proj").mkdir()
    (jp_root_dir / "proj" / "sales.py").write_text(SALES)
    job = await learn(jp_fetch, "proj", ALICE)
    assert job["state"] == "succeeded" and job["files_indexed"] == 1 and job["progress"] == 1.0

    reply = body(
        await post(jp_fetch, "nexus/api/v1/chat", {"text": "/ask How is VAT computed for invoices?"}, ALICE)
    )
    assert reply["intent"] == "chat" and reply["model"] in ("SmolA", "SmolB")
    cited = [c for c in reply["citations"] if c["source"] == "proj/sales.py"]
    assert cited and cited[0]["lines"]
    assert f"[1] proj/sales.py (lines {reply['citations'][0]['lines']})" in reply["answer"]
    assert "memories" in [c["kind"] for c in reply["context"]]
    # a reopened conversation links the same sources as the live answer
    detail = body(await jp_fetch("nexus/api/v1/conversations", reply["conversation_id"], headers=ALICE))
    assert [m["citations"] for m in detail["messages"] if m["role"] == "assistant"] == [reply["citations"]]

    # bob sees none of alice's memories, in search or in chat
    assert (
        body(await jp_fetch("nexus/api/v1/memory", params={"q": "VAT invoices"}, headers=BOB))["results"]
        == []
    )
    bob_reply = body(await post(jp_fetch, "nexus/api/v1/chat", {"text": "/ask How is VAT computed?"}, BOB))
    assert bob_reply["citations"] == [] and "memories" not in [c["kind"] for c in bob_reply["context"]]
    r = await jp_fetch("nexus/api/v1/memory/learn", job["id"], headers=BOB, raise_error=False)
    assert r.code == 404

    found = body(await jp_fetch("nexus/api/v1/memory", params={"q": "VAT invoices", "k": "2"}, headers=ALICE))
    assert found["results"][0]["source"] == "proj/sales.py"
    r = await jp_fetch(
        "nexus/api/v1/memory", method="DELETE", params={"source": "proj/sales.py"}, headers=ALICE
    )
    assert body(r)["removed"] >= 2
    assert body(await jp_fetch("nexus/api/v1/memory", params={"q": "VAT"}, headers=ALICE))["results"] == []


async def test_negative_feedback_moves_the_primary_and_accepted_answers_become_examples(
    jp_fetch: Any, nexus_services: Any
) -> None:
    interactions = []
    conversation = None
    for question in ("What is a list?", "What is a tuple?", "What is a set?"):
        payload: dict[str, Any] = {"text": f"/ask {question}"}
        if conversation:
            payload["conversation_id"] = conversation
        reply = body(await post(jp_fetch, "nexus/api/v1/chat", payload, ALICE))
        assert reply["model"] == "SmolA"
        conversation = reply["conversation_id"]
        interactions.append(reply["interaction_id"])

    models = body(await jp_fetch("nexus/api/v1/models", headers=ALICE))
    before = next(t for t in models["tasks"] if t["task"] == "natural_language")["preference"]
    assert before["changed"] is False and before["order"][0]["model"] == "SmolA"

    r = await post(
        jp_fetch,
        "nexus/api/v1/feedback",
        {"interaction_id": interactions[0], "kind": "up"},
        BOB,
        raise_error=False,
    )
    assert r.code == 404  # bob cannot rate alice's answers
    for interaction_id in interactions:
        r = await post(
            jp_fetch, "nexus/api/v1/feedback", {"interaction_id": interaction_id, "kind": "down"}, ALICE
        )
        assert r.code == 201 and body(r)["example_saved"] is False

    models = body(await jp_fetch("nexus/api/v1/models", headers=ALICE))
    after = next(t for t in models["tasks"] if t["task"] == "natural_language")["preference"]
    assert after["changed"] is True and [s["model"] for s in after["order"]] == ["SmolB", "SmolA"]
    assert "SmolA moved down" in after["reason"] and "feedback -1.00" in after["reason"]
    reply = body(await post(jp_fetch, "nexus/api/v1/chat", {"text": "/ask What is a dict?"}, ALICE))
    assert reply["model"] == "SmolB"

    # an accepted answer is retrieved as a few-shot example for a similar later request (alice's only)
    r = await post(
        jp_fetch, "nexus/api/v1/feedback", {"interaction_id": interactions[1], "kind": "accepted"}, ALICE
    )
    assert body(r)["example_saved"] is True
    later = body(
        await post(jp_fetch, "nexus/api/v1/chat", {"text": "/ask What is a tuple in Python?"}, ALICE)
    )
    bobs = body(await post(jp_fetch, "nexus/api/v1/chat", {"text": "/ask What is a tuple in Python?"}, BOB))

    def examples_of(message_id: str) -> list[int]:
        return nexus_services.database.call(
            lambda s: s.scalar(select(Message.meta).where(Message.id == message_id))["examples"]
        )

    assert examples_of(later["message_id"]) == [interactions[1]]
    assert examples_of(bobs["message_id"]) == []


@pytest.mark.parametrize(
    ("path", "payload", "code", "error"),
    [
        ("nexus/api/v1/chat", {"text": ""}, 400, "invalid_request"),
        ("nexus/api/v1/chat", {"text": "hi", "conversation_id": "f" * 32}, 404, "not_found"),
        ("nexus/api/v1/feedback", {"interaction_id": 1, "kind": "meh"}, 400, "invalid_request"),
        ("nexus/api/v1/memory/learn", {"path": "../../etc"}, 400, "invalid_path"),
        ("nexus/api/v1/memory/learn", {"path": "/etc/passwd"}, 400, "invalid_path"),
    ],
)
async def test_bad_requests_get_a_clear_4xx(
    jp_fetch: Any, path: str, payload: Any, code: int, error: str
) -> None:
    r = await post(jp_fetch, path, payload, ALICE, raise_error=False)
    assert r.code == code and body(r)["error"] == error and "Traceback" not in r.body.decode()
    r = await jp_fetch("nexus/api/v1/memory", headers=ALICE, raise_error=False)
    assert r.code == 400 and "q:" in body(r)["message"]


async def test_the_chat_lists_the_slash_commands_the_server_understands(jp_fetch: Any) -> None:
    listed = body(await jp_fetch("nexus/api/v1/chat/commands", headers=ALICE))["commands"]
    names = [c["name"] for c in listed]
    assert {"ask", "generate", "explain", "fix", "refactor", "test", "learn", "clear", "help"} <= set(names)
    assert "tests" not in names and "docstring" not in names  # what the old client list offered
    assert all(c["description"] for c in listed)
    # each listed command is one the server parses: /test answers as the test intent
    reply = body(
        await post(jp_fetch, "nexus/api/v1/chat", {"text": "/test def add(a, b): return a + b"}, ALICE)
    )
    assert reply["intent"] == "test"
