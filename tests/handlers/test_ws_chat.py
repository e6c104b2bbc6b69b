"""The websocket chat protocol with the real model: streaming, cancel, tabs, completion, bad frames."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from sqlalchemy import select

from nexus_server_ext.handlers.rooms import DeltaBatcher
from nexus_server_ext.store.models import Interaction

WS = "nexus/api/v1/ws"


ROUTING = """
providers:
  local: {kind: local, model: "bundled:SmolLM2-135M-Instruct"}
tasks:
  natural_language:
    chain: [{provider: local, model: SmolLM2-135M-Instruct}]
    limits: {timeout_s: 300, max_tokens: 6}
  completion:
    chain: [{provider: local, model: SmolLM2-135M-Instruct}]
    limits: {timeout_s: 300, max_tokens: 6}
"""


@pytest.fixture
def jp_server_config(nexus_data_dir: Any) -> dict[str, Any]:
    routing = nexus_data_dir / "routing.yaml"
    routing.write_text(ROUTING)
    return {
        "ServerApp": {"jpserver_extensions": {"nexus_server_ext": True}},
        "NexusApp": {
            "data_dir": str(nexus_data_dir),
            "routing_file": str(routing),
            "chat_max_tokens": 6,
            "intent_llm_tie_breaker": False,
            "memory_refresh_interval_s": 0,
        },
    }


async def read(ws: Any, timeout: float = 120) -> dict[str, Any]:
    message = await asyncio.wait_for(ws.read_message(), timeout)
    assert message is not None, "the socket closed"
    return json.loads(message)


async def until_done(ws: Any, request_id: str, kind: str = "chat.done") -> list[dict[str, Any]]:
    frames = []
    while True:
        frame = await read(ws)
        frames.append(frame)
        if frame["type"] == kind and frame.get("id") == request_id:
            return frames
        if frame["type"] == "error" and frame.get("id") == request_id:
            return frames


async def test_chat_streams_deltas_and_stores_the_answer(jp_ws_fetch: Any, jp_fetch: Any) -> None:
    ws = await jp_ws_fetch(WS)
    await ws.write_message(json.dumps({"type": "chat", "id": "c1", "text": "/ask What is Python?"}))
    frames = await until_done(ws, "c1")
    kinds = [f["type"] for f in frames]
    assert kinds[0] == "chat.started" and kinds[-1] == "chat.done", kinds
    started, done = frames[0], frames[-1]
    assert started["intent"] == "chat"
    deltas = "".join(f["text"] for f in frames if f["type"] == "chat.delta")
    assert deltas.strip() and done["cancelled"] is False and done["provider"] == "local"
    assert [p["outcome"] for p in done["fallback_path"]] == ["ok"]
    assert done["interaction_id"] and done["tokens_out"] > 0
    conversation = json.loads((await jp_fetch("nexus/api/v1/conversations", done["conversation_id"])).body)
    assert [m["role"] for m in conversation["messages"]] == ["user", "assistant"]
    assert conversation["messages"][1]["content"] == deltas  # what streamed is what was stored
    # the same conversation continues, and /clear resets what the model sees
    await ws.write_message(
        json.dumps({"type": "chat", "id": "c2", "text": "/clear", "conversation_id": done["conversation_id"]})
    )
    cleared = await until_done(ws, "c2")
    assert "cleared" in "".join(f.get("text", "") for f in cleared if f["type"] == "chat.delta")
    ws.close()


async def test_cancel_stops_the_answer_and_keeps_what_was_said(jp_ws_fetch: Any, nexus_services: Any) -> None:
    ws = await jp_ws_fetch(WS)
    await ws.write_message(json.dumps({"type": "chat", "id": "long", "text": "/ask Tell me a long story."}))
    assert (await read(ws))["type"] == "chat.started"
    await ws.write_message(json.dumps({"type": "cancel", "id": "long"}))
    frames = await until_done(ws, "long")
    assert frames[-1]["type"] == "chat.done" and frames[-1]["cancelled"] is True
    outcome = nexus_services.database.call(
        lambda s: s.scalar(select(Interaction.outcome).where(Interaction.id == frames[-1]["interaction_id"]))
    )
    assert outcome == "cancelled"
    await ws.write_message(json.dumps({"type": "cancel", "id": "long"}))  # nothing running any more
    assert (await read(ws))["error"] == "not_found"
    ws.close()


async def test_a_second_tab_follows_the_conversation(jp_ws_fetch: Any) -> None:
    tab1 = await jp_ws_fetch(WS)
    tab2 = await jp_ws_fetch(WS)
    await tab1.write_message(json.dumps({"type": "chat", "id": "t", "text": "/help"}))
    mine = await until_done(tab1, "t")
    theirs = await until_done(tab2, "t")
    assert [f["type"] for f in mine if f["type"].startswith("chat.")] == [
        f["type"] for f in theirs if f["type"].startswith("chat.")
    ]
    broadcasts = [f for f in theirs if f["type"] == "conversation.message"]
    assert [b["message"]["role"] for b in broadcasts] == ["user", "assistant"]
    assert not [f for f in mine if f["type"] == "conversation.message"]  # the sender has the stream
    tab1.close()
    tab2.close()


async def test_a_newer_completion_cancels_the_older(jp_ws_fetch: Any) -> None:
    ws = await jp_ws_fetch(WS)
    await ws.write_message(
        json.dumps({"type": "complete", "id": "k1", "prefix": "def add(a, b):\n    return"})
    )
    await ws.write_message(json.dumps({"type": "complete", "id": "k2", "prefix": "import os\nprint(os."}))
    done: dict[str, Any] = {}
    while len(done) < 2:
        frame = await read(ws)
        assert frame["type"] in ("complete.delta", "complete.done"), frame
        if frame["type"] == "complete.done":
            done[frame["id"]] = frame
    assert done["k1"]["cancelled"] is True
    assert done["k2"]["cancelled"] is False and done["k2"]["model"]
    ws.close()


@pytest.mark.parametrize(
    ("frame", "error"),
    [
        ({"type": "chat", "id": "x"}, "invalid_frame"),
        ({"type": "chat", "id": "x", "text": ""}, "invalid_frame"),
        ({"type": "chat", "id": "x", "text": "hi", "context": {"exclude": ["passwords"]}}, "invalid_frame"),
        ({"type": "cancel"}, "invalid_frame"),
        ({"type": "complete", "id": "x", "prefix": 3}, "invalid_frame"),
        ({"type": "chat", "id": "x", "text": "hi", "conversation_id": "f" * 32}, "not_found"),
    ],
)
async def test_bad_chat_frames_get_an_error(jp_ws_fetch: Any, frame: Any, error: str) -> None:
    ws = await jp_ws_fetch(WS)
    await ws.write_message(json.dumps(frame))
    reply = await read(ws)
    assert reply["type"] == "error" and reply["error"] == error and reply["message"]
    await ws.write_message(json.dumps({"type": "ping"}))
    assert (await read(ws))["type"] == "pong"
    ws.close()


async def test_closing_the_socket_cancels_its_generation(jp_ws_fetch: Any, nexus_services: Any) -> None:
    ws = await jp_ws_fetch(WS)
    await ws.write_message(json.dumps({"type": "chat", "id": "gone", "text": "/ask Write a poem."}))
    assert (await read(ws))["type"] == "chat.started"
    ws.close()
    for _ in range(600):
        outcomes = nexus_services.database.call(lambda s: list(s.scalars(select(Interaction.outcome))))
        if outcomes:
            break
        await asyncio.sleep(0.1)
    assert outcomes == ["cancelled"]


async def test_deltas_are_batched() -> None:
    emitted: list[str] = []
    batcher = DeltaBatcher(emitted.append, interval=0.02)
    for piece in ["a", "burst", "of", "many", "small", "tokens"]:
        batcher.add(piece + " ")
    await asyncio.sleep(0.05)
    batcher.add("late")
    batcher.flush()
    assert emitted == ["a burst of many small tokens ", "late"]
