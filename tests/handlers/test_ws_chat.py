"""The websocket's chat / cancel / complete frames against the real bundled model."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from nexus_server_ext.store.models import Interaction

WS = "nexus/api/v1/ws"
ROUTING = Path(__file__).resolve().parents[2] / "models" / "routing.yaml"


@pytest.fixture
def jp_server_config(jp_server_config: dict[str, Any], tmp_path: Path, local_engine: Any) -> dict[str, Any]:
    """The shipped routing, with time limits for a test machine whose CPUs are shared and slow.

    ``local_engine``: the bundled model is loaded once per session, before these tests time anything.
    """
    routing = ROUTING.read_text().replace("timeout_s: 10,", "timeout_s: 120,")
    path = tmp_path / "routing.yaml"
    path.write_text(routing)
    return {**jp_server_config, "NexusApp": {**jp_server_config["NexusApp"], "routing_file": str(path)}}


async def read(ws: Any, timeout: float = 120) -> dict[str, Any]:
    message = await asyncio.wait_for(ws.read_message(), timeout)
    assert message is not None, "the server closed the socket"
    return json.loads(message)


async def until(ws: Any, kind: str, request_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Frames up to and including the first ``kind`` frame for ``request_id``."""
    seen: list[dict[str, Any]] = []
    while True:
        frame = await read(ws)
        seen.append(frame)
        if frame["type"] == "error" and frame.get("id") == request_id:
            raise AssertionError(f"error frame: {frame}")
        if frame["type"] == kind and frame.get("id") == request_id:
            return frame, seen


async def test_chat_streams_deltas_and_stores_both_messages(jp_ws_fetch: Any, jp_fetch: Any) -> None:
    ws = await jp_ws_fetch(WS)
    await ws.write_message(
        json.dumps({"type": "chat", "id": "c1", "text": "Say hello in one short sentence."})
    )
    done, frames = await until(ws, "chat.done", "c1")
    started = frames[0]
    assert started["type"] == "chat.started" and started["id"] == "c1"
    deltas = [f["text"] for f in frames if f["type"] == "chat.delta"]
    assert len(deltas) > 1, "the answer should arrive in several pieces"
    assert done["model"] == "SmolLM2-135M-Instruct" and done["provider"] == "local"
    assert done["ttft_ms"] is not None and 0 < done["ttft_ms"] <= done["latency_ms"]
    assert done["cancelled"] is False and done["interaction_id"]
    reply = await jp_fetch(f"nexus/api/v1/conversations/{done['conversation_id']}")
    messages = json.loads(reply.body)["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant"]
    assert messages[0]["content"] == "Say hello in one short sentence."
    assert messages[1]["content"] == "".join(deltas)
    assert messages[1]["model"] == "SmolLM2-135M-Instruct"

    # A follow-up in the same conversation keeps adding to it.
    await ws.write_message(
        json.dumps({"type": "chat", "id": "c2", "conversation_id": done["conversation_id"], "text": "Again."})
    )
    second, _ = await until(ws, "chat.done", "c2")
    assert second["conversation_id"] == done["conversation_id"]
    ws.close()


async def test_cancel_stops_the_answer_and_keeps_what_was_said(jp_ws_fetch: Any, jp_fetch: Any) -> None:
    ws = await jp_ws_fetch(WS)
    text = "Write a long story about a dragon, at least five paragraphs."
    await ws.write_message(json.dumps({"type": "chat", "id": "long", "text": text}))
    while (await read(ws))["type"] != "chat.delta":
        pass
    await ws.write_message(json.dumps({"type": "cancel", "id": "long"}))
    done, _ = await until(ws, "chat.done", "long")
    assert done["cancelled"] is True
    assert done["tokens_out"] < 200, "the generation should stop long before its token limit"
    reply = await jp_fetch(f"nexus/api/v1/conversations/{done['conversation_id']}")
    assistant = json.loads(reply.body)["messages"][-1]
    assert assistant["role"] == "assistant" and assistant["content"]
    # The engine is free again: a ping is answered and a new request streams.
    await ws.write_message(json.dumps({"type": "ping", "id": "p"}))
    await until(ws, "pong", "p")
    ws.close()


async def test_a_newer_completion_cancels_the_previous_one_on_the_server(jp_ws_fetch: Any) -> None:
    ws = await jp_ws_fetch(WS)
    first = {"type": "complete", "id": "k1", "prefix": "def fibonacci(n):\n    "}
    second = {"type": "complete", "id": "k2", "prefix": "def add(a, b):\n    return"}
    await ws.write_message(json.dumps(first))
    await ws.write_message(json.dumps(second))
    done1, _ = await until(ws, "complete.done", "k1")
    assert done1["cancelled"] is True and done1["text"] == ""
    done2, frames = await until(ws, "complete.done", "k2")
    assert done2["cancelled"] is False
    assert done2["model"] == "SmolLM2-135M-Instruct"
    assert done2["text"].strip(), "the completion should not be empty"
    assert any(f["type"] == "complete.delta" and f["id"] == "k2" for f in frames)
    ws.close()


async def test_bad_chat_frames_get_errors_and_the_socket_stays_open(jp_ws_fetch: Any) -> None:
    ws = await jp_ws_fetch(WS)
    await ws.write_message(json.dumps({"type": "chat", "id": "x", "text": ""}))
    error = await read(ws)
    assert error["type"] == "error" and error["error"] == "invalid_frame" and error["id"] == "x"
    assert "text" in error["message"]
    await ws.write_message(json.dumps({"type": "chat", "id": "y", "conversation_id": "0" * 32, "text": "hi"}))
    error = await read(ws)
    assert error == {"type": "error", "error": "not_found", "message": error["message"], "id": "y"}
    await ws.write_message(json.dumps({"type": "cancel", "id": "nothing-running"}))
    await ws.write_message(json.dumps({"type": "ping", "id": "still"}))
    assert (await read(ws))["type"] == "pong"
    ws.close()


async def test_closing_the_socket_cancels_its_generation(jp_ws_fetch: Any, nexus_services: Any) -> None:
    ws = await jp_ws_fetch(WS)
    await ws.write_message(
        json.dumps({"type": "chat", "id": "gone", "text": "Write a long essay on rivers."})
    )
    while (await read(ws))["type"] != "chat.delta":
        pass
    ws.close()
    for _ in range(100):
        await asyncio.sleep(0.1)
        rows = nexus_services.database.call(lambda s: list(s.scalars(select(Interaction.outcome))))
        if rows:
            break
    assert rows == ["cancelled"]
