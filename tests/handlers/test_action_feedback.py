"""An AI action's diff rejected (``labextension/src/ai/review.ts``) reaches the learning system: the
feedback the frontend posts (``{interaction_id, kind: "rejected"}``, pinned by its test) is stored
against the answer, moves a model that keeps being rejected down the chain ``/models`` reports, and the
next action (``POST /generate``, the AI actions' route) is answered by the next model."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from sqlalchemy import select

from nexus_server_ext.store.models import Feedback
from tests.support.scripted_models import ScriptedModelServer

REFACTOR = "```python\nx = [i * i for i in range(3)]\n```\nA list comprehension."


@pytest.fixture
def model() -> Iterator[ScriptedModelServer]:
    with ScriptedModelServer(lambda _messages: {"text": REFACTOR}) as server:
        yield server


@pytest.fixture
def jp_server_config(nexus_config: Any, model: ScriptedModelServer) -> dict[str, Any]:
    routing = {
        "providers": {"scripted": {"kind": "openai", "base_url": model.url, "api_key": "scripted-key"}},
        "tasks": {
            "code_generation": {
                "chain": [
                    {"provider": "scripted", "model": "model-a"},
                    {"provider": "scripted", "model": "model-b"},
                ],
                "limits": {"timeout_s": 30, "max_tokens": 64},
            }
        },
    }
    return nexus_config(routing=yaml.safe_dump(routing))


async def refactor(jp_fetch: Any) -> dict[str, Any]:
    """What the Refactor action sends (``ai/actions.ts``)."""
    body = {
        "task": "code_generation",
        "prompt": "Refactor this code to be clearer and more idiomatic. Keep its behaviour exactly the same.",
        "context": {"code": "x=[]\nfor i in range(3):\n    x.append(i*i)\n"},
    }
    r = await jp_fetch("nexus/api/v1/generate", method="POST", body=json.dumps(body))
    return dict(json.loads(r.body))


async def preference(jp_fetch: Any) -> dict[str, Any]:
    models = json.loads((await jp_fetch("nexus/api/v1/models")).body)
    return dict(next(t for t in models["tasks"] if t["task"] == "code_generation")["preference"])


async def test_rejected_diffs_are_recorded_and_move_the_model_down(
    jp_fetch: Any, nexus_services: Any
) -> None:
    rejected = []
    for _ in range(3):  # LearningSystem.min_samples
        reply = await refactor(jp_fetch)
        assert reply["model"] == "model-a" and reply["valid"] and reply["interaction_id"]
        # Reject in the diff: the body the frontend posts
        payload = {"interaction_id": reply["interaction_id"], "kind": "rejected"}
        r = await jp_fetch("nexus/api/v1/feedback", method="POST", body=json.dumps(payload))
        assert r.code == 201
        answer = json.loads(r.body)
        # a rejection teaches no few-shot example
        assert answer["kind"] == "rejected" and answer["example_saved"] is False
        rejected.append(reply["interaction_id"])

    stored = nexus_services.database.call(
        lambda s: [
            (f.interaction_id, f.kind, f.rating) for f in s.scalars(select(Feedback).order_by(Feedback.id))
        ]
    )
    assert stored == [(i, "rejected", -1) for i in rejected]

    after = await preference(jp_fetch)
    assert after["changed"] is True and [s["model"] for s in after["order"]] == ["model-b", "model-a"]
    assert "model-a moved down" in after["reason"] and "feedback -1.00" in after["reason"]
    # the next AI action is answered by the model that was not rejected
    reply = await refactor(jp_fetch)
    assert reply["model"] == "model-b"
