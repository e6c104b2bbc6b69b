"""Per-user token buckets per endpoint class; 429 with Retry-After from the real server."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from traitlets import TraitError

from nexus_server_ext.security.ratelimit import RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_classes_have_separate_buckets_and_refill() -> None:
    clock = Clock()
    limiter = RateLimiter(clock, per_minute=60, burst=2, classes={"chat": {"per_minute": 6, "burst": 1}})
    assert limiter.acquire("ann", endpoint_class="chat") == 0
    wait = limiter.acquire("ann", endpoint_class="chat")
    assert wait == pytest.approx(10.0)  # 6 per minute: one token every 10 s
    # Other classes and other users are unaffected.
    assert limiter.acquire("ann") == 0 and limiter.acquire("ann") == 0
    assert limiter.acquire("ann") > 0
    assert limiter.acquire("bob", endpoint_class="chat") == 0
    clock.now += 10
    assert limiter.acquire("ann", endpoint_class="chat") == 0
    # An unknown class falls back to the default policy.
    assert limiter.policy("voice").per_minute == 60


def test_bad_class_configuration_is_a_clear_error() -> None:
    with pytest.raises(TraitError, match="per_minute and burst"):
        RateLimiter(per_minute=60, burst=2, classes={"chat": {"burst": 3}})


@pytest.fixture
def jp_server_config(nexus_config: Any) -> dict[str, Any]:
    limits = {
        "per_minute": 1.0,
        "burst": 2,
        "classes": {
            "chat": {"per_minute": 1, "burst": 5},  # no refill while the test runs
            "completion": {"per_minute": 600, "burst": 60},
        },
    }
    return nexus_config(other={"RateLimiter": limits})


async def test_server_answers_429_with_retry_after_per_class(jp_fetch: Any) -> None:
    async def run_command() -> Any:
        return await jp_fetch("nexus/api/v1/commands/run-cell", method="POST", body="{}", raise_error=False)

    assert (await run_command()).code == 200
    assert (await run_command()).code == 200
    refused = await run_command()
    assert refused.code == 429
    assert int(refused.headers["Retry-After"]) >= 50  # one token per minute
    body = json.loads(refused.body)
    assert body["error"] == "rate_limited" and "try again" in body["message"]
    # Endpoints without a rate class are unaffected by the exhausted default bucket.
    r = await jp_fetch("nexus/api/v1/commands", raise_error=False)
    assert r.code == 200


async def test_websocket_typing_does_not_use_up_the_chat_quota(jp_ws_fetch: Any) -> None:
    """Completion frames draw from ``completion``, chat frames from ``chat`` (as the REST routes do)."""
    ws = await jp_ws_fetch("nexus/api/v1/ws")
    seen: list[dict[str, Any]] = []

    async def frame_for(request_id: str) -> dict[str, Any]:
        while True:
            frame = json.loads(await asyncio.wait_for(ws.read_message(), 300))
            seen.append(frame)
            if frame.get("id") == request_id and frame["type"] in ("error", "chat.done", "complete.done"):
                return frame

    # three completions: the default bucket (burst 2) would refuse the third; completion has its own
    for i in range(3):
        await ws.write_message(json.dumps({"type": "complete", "id": f"k{i}", "prefix": f"x{i} = "}))
    for i in range(5):  # the chat bucket (burst 5) is untouched by the completions
        await ws.write_message(json.dumps({"type": "chat", "id": f"c{i}", "text": "/help"}))
        assert (await frame_for(f"c{i}"))["type"] == "chat.done"
    await ws.write_message(json.dumps({"type": "chat", "id": "c5", "text": "/help"}))
    refused = await frame_for("c5")
    assert refused["error"] == "rate_limited" and "try again" in refused["message"]
    assert not [f for f in seen if f["type"] == "error" and str(f.get("id")).startswith("k")]
    ws.close()
