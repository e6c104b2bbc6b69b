"""Per-user token buckets per endpoint class; 429 with Retry-After from the real server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from nexus_server_ext.security.ratelimit import RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_classes_have_separate_buckets_and_refill() -> None:
    clock = Clock()
    limiter = RateLimiter(60, 2, clock=clock, classes={"chat": {"per_minute": 6, "burst": 1}})
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
    with pytest.raises(ValueError, match="per_minute and burst"):
        RateLimiter(60, 2, classes={"chat": {"burst": 3}})


@pytest.fixture
def jp_server_config(nexus_data_dir: Path) -> dict[str, Any]:
    return {
        "ServerApp": {"jpserver_extensions": {"nexus_server_ext": True}},
        "NexusApp": {
            "data_dir": str(nexus_data_dir),
            "rate_limit_per_minute": 1.0,
            "rate_limit_burst": 2,
            "rate_limits": {"chat": {"per_minute": 60, "burst": 5}},
        },
    }


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
