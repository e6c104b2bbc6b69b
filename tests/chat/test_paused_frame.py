"""Explain the paused frame (the debug panel's button while JupyterLab's debugger is stopped at a
breakpoint): the question the panel asks, pinned by the frontend's test in
``labextension/test/fixtures/paused-frame.json``, goes through a real server's chat to the model with the
frame's line and variables, and the model's answer comes back as the chat's answer."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.scripted_models import ScriptedModelServer, scripted_routing

FIXTURE = Path(__file__).resolve().parents[2] / "labextension" / "test" / "fixtures" / "paused-frame.json"
CELL = "def area(w, h):\n    scale = 0.5\n    return w * h * scale\n\nsizes = [3, 4]\narea(*sizes)\n"
ANSWER = "At line 3 area multiplies w (3) by h (4) and halves it: 6.0, as the code expects."


@pytest.fixture
def model() -> Iterator[ScriptedModelServer]:
    with ScriptedModelServer(lambda _messages: {"text": ANSWER}) as server:
        yield server


@pytest.fixture
def jp_server_config(nexus_config: Any, model: ScriptedModelServer) -> dict[str, Any]:
    tasks = ("natural_language", "code_analysis", "code_generation")
    return nexus_config(
        routing=scripted_routing(model, tasks=tasks, max_tokens=64),
        other={"IntentClassifier": {"llm_tie_breaker": False}},
    )


async def test_the_model_is_told_the_paused_line_and_variables_and_its_answer_comes_back(
    jp_fetch: Any, model: ScriptedModelServer
) -> None:
    question = json.loads(FIXTURE.read_text(encoding="utf-8"))["prompt"]
    # as the chat panel sends it: the question, and the active cell (the one paused) as its context
    body = {"text": question, "context": {"cell_id": "cell-3", "selection": CELL, "exclude": ["error"]}}
    r = await jp_fetch("nexus/api/v1/chat", method="POST", body=json.dumps(body), request_timeout=120)
    reply = json.loads(r.body)

    assert reply["intent"] == "explain" and reply["provider"] == "scripted"
    assert ANSWER in reply["answer"]
    assert len(model.requests) == 1  # one model call: no intent tie-breaker, no fallback
    messages = model.messages()
    asked = messages[-1]
    assert asked["role"] == "user" and not asked["content"].startswith("/explain")
    assert "paused in area() at line 3 of the cell" in asked["content"]
    for variable in (
        "Locals.w: int = 3",
        "Locals.h: int = 4",
        "Locals.scale: float = 0.5",
        "Globals.sizes: list = [3, 4]",
    ):
        assert variable in asked["content"], variable
    # the paused cell's code went along as context (the system turn)
    assert messages[0]["role"] == "system" and "return w * h * scale" in messages[0]["content"]
    # and the chat keeps the exchange: the question as asked, the model's answer
    detail = json.loads((await jp_fetch("nexus/api/v1/conversations", reply["conversation_id"])).body)
    said = [(m["role"], m["content"]) for m in detail["messages"]]
    assert said[0] == ("user", question) and said[-1][0] == "assistant" and ANSWER in said[-1][1]
