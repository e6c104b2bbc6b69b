"""The websocket chat protocol with the real model: streaming, cancel, tabs, completion, bad frames."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from sqlalchemy import select
from support.routing import bundled_routing

from nexus_server_ext.handlers.rooms import DeltaBatcher
from nexus_server_ext.store.models import Interaction

WS = "nexus/api/v1/ws"


ROUTING = bundled_routing(("natural_language", "completion", "code_analysis", "code_generation"))


@pytest.fixture
def jp_server_config(nexus_config: Any) -> dict[str, Any]:
    return nexus_config(
        routing=ROUTING,
        other={"IntentClassifier": {"llm_tie_breaker": False}, "ConsciousnessCore": {"max_tokens": 6}},
    )


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


async def run_in_kernel(client: Any, code: str) -> dict[str, Any]:
    msg_id = client.execute(code)
    while True:
        reply = await client.get_shell_msg(timeout=60)
        if reply["parent_header"].get("msg_id") == msg_id:
            return dict(reply["content"])


async def test_explain_after_a_kernel_error_starts_with_its_facts(
    jp_ws_fetch: Any, jp_fetch: Any, jp_serverapp: Any
) -> None:
    km = jp_serverapp.kernel_manager  # the notebook's kernel, started by the server
    kernel_id = await km.start_kernel(kernel_name="python3")
    client = km.get_kernel(kernel_id).client()
    client.start_channels()
    try:
        await client.wait_for_ready(timeout=60)
        await run_in_kernel(client, "x = [1, 2, 3]")
        assert (await run_in_kernel(client, "x[10]"))["status"] == "error"
        ws = await jp_ws_fetch(WS)
        frame = {"type": "chat", "id": "e1", "text": "/explain", "context": {"kernel_id": kernel_id}}
        await ws.write_message(json.dumps(frame))
        frames = await until_done(ws, "e1")
        assert frames[0]["type"] == "chat.started" and frames[0]["intent"] == "explain", frames[0]
        deltas = [f["text"] for f in frames if f["type"] == "chat.delta"]
        facts = (
            "**IndexError**: list index out of range - line 1: `x[10]`\n\n"
            "Cause: `x` has 3 items (valid indexes 0-2 or -3 to -1); index 10 is out of range.\n\n"
            "On that line: `x` (list, len 3) = `[1, 2, 3]`\n\n"
        )
        assert deltas and deltas[0].startswith("**IndexError**"), deltas  # before any word of the model
        answer = "".join(deltas)
        assert answer.startswith(facts) and answer[len(facts) :].strip(), answer  # then the model's words
        done = frames[-1]
        assert done["type"] == "chat.done" and done["provider"] == "local"
        conversation = json.loads(
            (await jp_fetch("nexus/api/v1/conversations", done["conversation_id"])).body
        )
        assert conversation["messages"][-1]["content"] == answer  # the stored answer keeps the facts
        assert "error" in [c["kind"] for c in frames[0]["context"]]  # the chip the user sees

        # an unrelated question while the error is still the kernel's last: not about it, not sent with it
        frame = {
            "type": "chat",
            "id": "u1",
            "text": "What does len() return?",
            "context": {"kernel_id": kernel_id},
        }
        await ws.write_message(json.dumps(frame))
        unrelated = await until_done(ws, "u1")
        assert "error" not in [c["kind"] for c in unrelated[0]["context"]], unrelated[0]
        text = "".join(f["text"] for f in unrelated if f["type"] == "chat.delta")
        assert text.strip() and "IndexError" not in text, text

        # once a later cell has run fine, the old error is not what /explain is about
        await run_in_kernel(client, "y = len(x)")
        frame = {"type": "chat", "id": "e2", "text": "/explain", "context": {"kernel_id": kernel_id}}
        await ws.write_message(json.dumps(frame))
        later = "".join(f["text"] for f in await until_done(ws, "e2") if f["type"] == "chat.delta")
        assert later.strip() and not later.startswith("**IndexError**"), later
        ws.close()
    finally:
        client.stop_channels()
        await km.shutdown_kernel(kernel_id, now=True)


async def test_fix_of_an_error_the_facts_settle_is_the_computed_fix_as_in_the_debug_panel(
    jp_ws_fetch: Any, jp_serverapp: Any, nexus_services: Any
) -> None:
    """Chat's /fix asks the same Explain / Fix service as the debug panel: a misspelt name is fixed from
    the facts, no model asked, and the answer carries the fixed cell."""
    km = jp_serverapp.kernel_manager
    kernel_id = await km.start_kernel(kernel_name="python3")
    client = km.get_kernel(kernel_id).client()
    client.start_channels()
    try:
        await client.wait_for_ready(timeout=60)
        cell = "def area(width, height):\n    return width * heigth\n\narea(2, 3)"
        assert (await run_in_kernel(client, cell))["status"] == "error"
        rows_before = nexus_services.database.call(lambda s: len(s.scalars(select(Interaction.id)).all()))
        ws = await jp_ws_fetch(WS)
        frame = {"type": "chat", "id": "f1", "text": "/fix", "context": {"kernel_id": kernel_id}}
        await ws.write_message(json.dumps(frame))
        frames = await until_done(ws, "f1")
        answer = "".join(f["text"] for f in frames if f["type"] == "chat.delta")
        assert answer.startswith("**NameError**"), answer
        assert "```python\ndef area(width, height):\n    return width * height\n" in answer, answer
        assert "**Checked:** the fixed cell runs without error in a separate process" in answer  # run first
        done = frames[-1]
        assert (done["provider"], done["model"]) == ("nexus", "error facts"), done
        rows_after = nexus_services.database.call(lambda s: len(s.scalars(select(Interaction.id)).all()))
        assert rows_after == rows_before  # no model was asked
        ws.close()
    finally:
        client.stop_channels()
        await km.shutdown_kernel(kernel_id, now=True)


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


async def test_every_completion_gets_its_final_frame_even_cancelled_before_it_started(
    jp_ws_fetch: Any,
) -> None:
    """Typing fast sends frames faster than the server starts their tasks: each still ends."""
    ws = await jp_ws_fetch(WS)
    frames = [json.dumps({"type": "complete", "id": f"k{i}", "prefix": f"x{i} = "}) for i in range(3)]
    await asyncio.gather(
        *(ws.write_message(f) for f in [*frames, json.dumps({"type": "cancel", "id": "k2"})])
    )
    done: dict[str, Any] = {}
    while len(done) < 3:
        frame = await read(ws)
        assert frame["type"] in ("complete.delta", "complete.done"), frame
        if frame["type"] == "complete.done":
            assert frame["id"] not in done, "one final frame per request"
            done[frame["id"]] = frame
    assert done["k2"]["cancelled"]  # cancelled by the client
    # superseded ones are cancelled, unless the engine finished one before the next frame arrived
    assert all(d["cancelled"] or d["text"] is not None for d in done.values())
    assert sum(not d["cancelled"] for d in done.values()) <= 1
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


class TestGatedCompletion:
    """With the gate on, a completion arrives whole in ``complete.done``: nothing streams that could
    flash up and vanish, and a suggestion the model was unsure of is an empty, suppressed one."""

    @pytest.fixture
    def jp_server_config(self, nexus_config: Any) -> dict[str, Any]:
        gate = "    gate: {enabled: true, min_confidence: 1.0, models: {SmolLM2-135M-Instruct: 0.5}}\n"
        return nexus_config(routing=bundled_routing(("completion",), max_tokens=16) + gate)

    async def test_shown_and_suppressed_completions_arrive_whole(self, jp_ws_fetch: Any) -> None:
        ws = await jp_ws_fetch(WS)
        cells = ["import pandas as pd", "df = pd.read_csv('t.csv')"]
        frame = {"type": "complete", "id": "g1", "prefix": 'mean_temp = df["temp"].', "cells": cells}
        await ws.write_message(json.dumps(frame))
        frames = await until_done(ws, "g1", "complete.done")
        assert [f["type"] for f in frames] == ["complete.done"]
        assert frames[0]["text"] == "mean()" and frames[0]["suppressed"] is False
        await ws.write_message(json.dumps({"type": "complete", "id": "g2", "prefix": "x = "}))
        frames = await until_done(ws, "g2", "complete.done")
        assert [f["type"] for f in frames] == ["complete.done"]  # "x = " is a guess: the model is unsure
        assert frames[0]["text"] == "" and frames[0]["suppressed"] is True
        ws.close()
