"""The NEXUS websocket: answers, and survives bad frames."""

from __future__ import annotations

import json
from typing import Any

import pytest

WS = "nexus/api/v1/ws"


async def exchange(ws: Any, frame: Any) -> dict[str, Any]:
    await ws.write_message(frame if isinstance(frame, str) else json.dumps(frame))
    return json.loads(await ws.read_message())


async def test_ping_pong(jp_ws_fetch: Any) -> None:
    ws = await jp_ws_fetch(WS)
    reply = await exchange(ws, {"type": "ping", "id": "42"})
    assert reply["type"] == "pong" and reply["id"] == "42" and reply["server_time"]
    ws.close()


@pytest.mark.parametrize(
    ("frame", "error"),
    [
        ("{oops", "invalid_json"),
        ({"type": "teleport"}, "unknown_frame"),
        ({"no": "type"}, "unknown_frame"),
        ({"type": "ping", "id": "x" * 100}, "invalid_frame"),
        ({"type": "ping", "pad": "x" * (300 * 1024)}, "frame_too_large"),
    ],
)
async def test_bad_frames_get_an_error_and_the_socket_stays_open(
    jp_ws_fetch: Any, frame: Any, error: str
) -> None:
    ws = await jp_ws_fetch(WS)
    reply = await exchange(ws, frame)
    assert reply["type"] == "error" and reply["error"] == error and reply["message"]
    assert (await exchange(ws, {"type": "ping"}))["type"] == "pong"
    ws.close()
