"""The pipeline's one repair-and-fallback rule, streamed and collected, and the interaction each answer
records: models are the local stand-in for a paid OpenAI-compatible API (``fake_server``), each
answering what the test sets, so the chain really walks from an invalid answer to the next model."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from nexus_server_ext.ai.interactions import InteractionRecord, MemoryInteractions
from nexus_server_ext.ai.pipeline import AIPipeline, Streamed
from nexus_server_ext.ai.router import ModelRouter
from nexus_server_ext.ai.types import Delta, Restart
from nexus_server_ext.chat.intent import llm_tie_breaker
from nexus_server_ext.store import Database
from nexus_server_ext.store.models import Interaction

INVALID = "```python\ndef total(xs:\n    return sum(xs)\n```"
VALID = "```python\ndef total(xs):\n    return sum(xs)\n```\nSums the list."
ASK = "Write a function total(xs) that sums a list."


def pipeline(
    make_routing: Any, url: str, log: Any, chain: list[tuple[str, str]] | None = None, backup: str = ""
) -> AIPipeline:
    """Two remote models on the stand-in server: ``primary`` (model gpt-x), then ``backup`` (gpt-y)."""
    providers = {
        name: {"kind": "openai", "base_url": f"{where}/v1", "api_key": f"sk-{name}"}
        for name, where in (("primary", url), ("backup", backup or url))
    }
    steps = chain or [("primary", "gpt-x"), ("backup", "gpt-y")]
    return AIPipeline(ModelRouter(make_routing(providers, steps)), log)


def rows(db: Database) -> list[Interaction]:
    return list(db.call(lambda s: s.scalars(select(Interaction).order_by(Interaction.id)).all()))


def steps(path: list[Any]) -> list[tuple[str, str]]:
    return [(p["model"], p["outcome"]) for p in path]


async def test_a_repair_that_is_still_invalid_falls_back_to_the_next_model_while_streaming(
    fake_server: dict[str, Any], make_routing: Any, db: Database
) -> None:
    fake_server["replies"] = {"gpt-x": INVALID, "gpt-y": VALID}
    ai = pipeline(make_routing, fake_server["url"], db)
    events = [e async for e in ai.stream("code_generation", ASK, max_tokens=40)]

    restarts = [e for e in events if isinstance(e, Restart)]
    # one repair on the same model, then the next model answers the question
    assert [(r.failed_model, r.next_model) for r in restarts] == [("gpt-x", "gpt-x"), ("gpt-x", "gpt-y")]
    assert all(r.reason.startswith("invalid code: line 1") for r in restarts), restarts
    end = events[-1]
    assert isinstance(end, Streamed) and end.meta is not None
    assert (end.outcome, end.meta.model, end.error) == ("fallback", "gpt-y", None)
    assert steps(end.fallback_path) == [("gpt-x", "invalid"), ("gpt-x", "invalid"), ("gpt-y", "ok")]
    # what the client shows after the last restart is the answer that stands
    after = events[events.index(restarts[-1]) :]
    assert "".join(e.text for e in after if isinstance(e, Delta)) == end.text == VALID
    assert end.answer is not None and end.answer.code == "def total(xs):\n    return sum(xs)\n"

    bodies = fake_server["bodies"]
    assert [b["model"] for b in bodies] == ["gpt-x", "gpt-x", "gpt-y"]
    assert "That code is invalid" in bodies[1]["messages"][-1]["content"]  # the repair request
    assert bodies[2]["messages"] == bodies[0]["messages"]  # the next model is asked the question itself

    [row] = rows(db)  # one interaction for the whole answer
    assert row.id == end.interaction_id and row.outcome == "fallback" and row.model == "gpt-y"
    assert steps(row.fallback_path) == steps(end.fallback_path) and row.tokens_out == 6


@pytest.mark.parametrize(
    ("replies", "outcome", "path"),
    [
        # invalid, its repair invalid, then the next model's valid answer
        ({"gpt-x": INVALID, "gpt-y": VALID}, "fallback", ["invalid", "invalid", "ok"]),
        # invalid, then repaired on the same model
        ({"gpt-x": [INVALID, VALID]}, "fallback", ["invalid", "repaired"]),
        # every model invalid, repairs too: the chain ends and the last answer stands
        ({"gpt-x": INVALID, "gpt-y": INVALID}, "invalid", ["invalid"] * 4),
    ],
)
async def test_generate_and_stream_agree(
    fake_server: dict[str, Any],
    make_routing: Any,
    db: Database,
    replies: dict[str, Any],
    outcome: str,
    path: list[str],
) -> None:
    ai = pipeline(make_routing, fake_server["url"], db)
    fake_server["replies"] = {k: list(v) if isinstance(v, list) else v for k, v in replies.items()}
    result = await ai.generate("code_generation", ASK, max_tokens=40)
    fake_server["replies"] = {k: list(v) if isinstance(v, list) else v for k, v in replies.items()}
    events = [e async for e in ai.stream("code_generation", ASK, max_tokens=40)]
    end = events[-1]
    assert isinstance(end, Streamed) and end.meta is not None and end.answer is not None

    assert result.outcome == end.outcome == outcome
    assert [p["outcome"] for p in result.fallback_path] == [p["outcome"] for p in end.fallback_path] == path
    assert (result.provider, result.model, result.tokens_out) == (
        end.meta.provider,
        end.meta.model,
        end.tokens_out,
    )
    assert (result.code, result.explanation, result.text) == (
        end.answer.code,
        end.answer.explanation,
        end.text,
    )
    assert result.valid is (outcome != "invalid") and result.error == end.error
    if outcome == "invalid":
        assert result.error and result.code == "def total(xs:\n    return sum(xs)\n"
    else:
        assert result.explanation == "Sums the list."  # a repair keeps the explanation, the code is fixed
    recorded = rows(db)
    assert [r.id for r in recorded] == [result.interaction_id, end.interaction_id]
    assert [r.outcome for r in recorded] == [outcome, outcome]


async def test_when_no_other_model_answers_the_last_answer_stands(
    fake_server: dict[str, Any], make_routing: Any, db: Database, unused_port: int
) -> None:
    ai = pipeline(make_routing, fake_server["url"], db, backup=f"http://127.0.0.1:{unused_port}")
    fake_server["replies"] = {"gpt-x": INVALID}
    events = [e async for e in ai.stream("code_generation", ASK, max_tokens=40)]
    end = events[-1]
    assert isinstance(end, Streamed) and end.meta is not None
    # no restart announced a model that never answered: the client keeps the repaired text
    assert [(r.failed_model, r.next_model) for r in events if isinstance(r, Restart)] == [("gpt-x", "gpt-x")]
    assert end.outcome == "invalid" and end.text == INVALID and end.meta.model == "gpt-x"
    assert steps(end.fallback_path) == [("gpt-x", "invalid"), ("gpt-x", "invalid"), ("gpt-y", "error")]
    result = await ai.generate("code_generation", ASK, max_tokens=40)
    assert (result.outcome, result.valid, result.model) == ("invalid", False, "gpt-x")
    assert [r.outcome for r in rows(db)] == ["invalid", "invalid"]


async def test_the_intent_tie_breaker_is_recorded(
    fake_server: dict[str, Any], make_routing: Any, db: Database
) -> None:
    fake_server["replies"] = {"gpt-x": "Generate."}
    choose = llm_tie_breaker(pipeline(make_routing, fake_server["url"], db, [("primary", "gpt-x")]))
    assert await choose("make me a function that sums a list", ["generate", "chat"]) == "generate"
    body = fake_server["last_body"]
    assert body["max_tokens"] == 4 and [m["role"] for m in body["messages"]] == ["user"]
    [row] = rows(db)
    assert (row.task, row.intent, row.provider, row.outcome) == (
        "natural_language",
        "tie_breaker",
        "primary",
        "ok",
    )


async def test_an_in_memory_log_numbers_the_answers(fake_server: dict[str, Any], make_routing: Any) -> None:
    log = MemoryInteractions(size=2)
    ai = pipeline(make_routing, fake_server["url"], log, [("primary", "gpt-x")])
    ids = [(await ai.generate("natural_language", "hi", max_tokens=4)).interaction_id for _ in range(3)]
    assert ids == [1, 2, 3]
    assert [r.id for r in log.records] == [2, 3]  # bounded: the oldest is gone
    kept = log.rate(3, "up")
    assert isinstance(kept, InteractionRecord) and (kept.task, kept.model, kept.feedback) == (
        "natural_language",
        "gpt-x",
        "up",
    )
    assert log.rate(1, "down") is None and AIPipeline(ai.router).interactions is None
