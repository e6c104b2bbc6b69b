"""Rate limits, token quotas and the ledger, in memory and in a real Redis shared by two "replicas"."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from nexus_server_ext.gateway.quotas import MemoryUsageStore, QuotaPolicy, RedisUsageStore, UsageStore

REDIS_URL = os.environ.get("NEXUS_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def redis_required() -> bool:
    return bool(os.environ.get("CI") or os.environ.get("NEXUS_REQUIRE_REDIS"))


@pytest.fixture
def redis_stores() -> Iterator[Callable[[QuotaPolicy], RedisUsageStore]]:
    """A factory of Redis stores on one fresh key prefix: each store plays one gateway replica."""
    import redis

    prefix = f"nexus-test-{uuid.uuid4().hex[:12]}"
    probe = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3)
    try:
        probe.ping()
    except Exception as exc:
        message = f"Redis is not reachable at {REDIS_URL} ({type(exc).__name__}); start it"
        if redis_required():
            pytest.fail(message)
        pytest.skip(message)
    yield lambda policy: RedisUsageStore(policy, REDIS_URL, prefix)
    keys = list(probe.scan_iter(f"{prefix}:*"))
    if keys:
        probe.delete(*keys)
    probe.close()


async def test_burst_then_429_with_a_retry_after_that_is_honest() -> None:
    clock = Clock()
    store = MemoryUsageStore(QuotaPolicy(requests_per_minute=60, burst=3), clock)
    assert [(await store.admit("alice")).allowed for _ in range(3)] == [True, True, True]
    refused = await store.admit("alice")
    assert not refused.allowed and refused.reason == "rate"
    assert refused.retry_after_header == "1"
    assert (await store.admit("bob")).allowed, "one user's flood must not cost another user"
    clock.now += 1.0
    assert (await store.admit("alice")).allowed


async def test_token_quota_refuses_until_the_window_turns_over() -> None:
    clock = Clock()
    store = MemoryUsageStore(QuotaPolicy(requests_per_minute=0, tokens_per_window=100, window_s=3600), clock)
    first = await store.admit("alice")
    assert first.allowed and first.tokens_left == 100
    await store.record("alice", "nexus-local", 30, 80)
    refused = await store.admit("alice")
    assert not refused.allowed and refused.reason == "quota" and refused.tokens_left == 0
    assert 0 < refused.retry_after_s <= 3600
    clock.now += refused.retry_after_s + 0.01
    assert (await store.admit("alice")).allowed


async def test_ledger_counts_per_user_and_model() -> None:
    store = MemoryUsageStore(QuotaPolicy(tokens_per_window=1000))
    await store.record("alice", "nexus-local", 10, 5)
    await store.record("alice", "natural_language", 7, 3)
    await store.record("bob", "nexus-local", 1, 1)
    alice, bob = await store.ledger()
    assert alice.as_dict(store.policy) == {
        "user": "alice",
        "requests": 2,
        "tokens_in": 17,
        "tokens_out": 8,
        "models": {
            "nexus-local": {"requests": 1, "tokens_in": 10, "tokens_out": 5},
            "natural_language": {"requests": 1, "tokens_in": 7, "tokens_out": 3},
        },
        "window_tokens": 25,
        "window_quota": 1000,
    }
    assert bob.totals == {"requests": 1, "tokens_in": 1, "tokens_out": 1}
    assert [u.user for u in await store.ledger("bob")] == ["bob"]


async def test_redis_replicas_share_one_rate_limit(redis_stores: Any) -> None:
    policy = QuotaPolicy(requests_per_minute=1, burst=4)
    one, two = redis_stores(policy), redis_stores(policy)
    results = [(await (one if i % 2 else two).admit("alice")).allowed for i in range(6)]
    assert results == [True, True, True, True, False, False]
    refused = await one.admit("alice")
    assert refused.reason == "rate" and 55 < refused.retry_after_s <= 60


async def test_redis_replicas_share_quota_and_ledger(redis_stores: Any) -> None:
    policy = QuotaPolicy(requests_per_minute=0, tokens_per_window=50, window_s=3600)
    one, two = redis_stores(policy), redis_stores(policy)
    assert (await one.admit("bob")).tokens_left == 50
    await one.record("bob", "nexus-local", 20, 10)
    assert (await two.admit("bob")).tokens_left == 20
    await two.record("bob", "nexus-local", 15, 10)
    refused = await one.admit("bob")
    assert not refused.allowed and refused.reason == "quota"
    assert (await two.admit("carol")).allowed
    [row] = await two.ledger()
    assert row.as_dict(policy)["models"] == {
        "nexus-local": {"requests": 2, "tokens_in": 35, "tokens_out": 20}
    }
    assert row.window_tokens == 55


@pytest.mark.parametrize("kind", ["memory", "redis"])
async def test_disabled_limits_admit_everything(kind: str, redis_stores: Any) -> None:
    policy = QuotaPolicy(requests_per_minute=0, tokens_per_window=0)
    store: UsageStore = MemoryUsageStore(policy) if kind == "memory" else redis_stores(policy)
    decisions = [await store.admit("alice") for _ in range(50)]
    assert all(d.allowed and d.tokens_left is None for d in decisions)


@pytest.mark.parametrize("kind", ["memory", "redis"])
async def test_embeddings_are_in_the_ledger_but_never_spend_the_token_quota(
    kind: str, redis_stores: Any
) -> None:
    """Indexing a folder through the gateway must not leave its user without answers."""
    policy = QuotaPolicy(requests_per_minute=0, tokens_per_window=100, window_s=3600)
    store: UsageStore = MemoryUsageStore(policy) if kind == "memory" else redis_stores(policy)
    await store.record("alice", "all-MiniLM-L6-v2", 5000, 0, quota=False)
    assert (await store.admit("alice")).allowed  # answers still admitted
    [usage] = await store.ledger("alice")
    assert usage.models["all-MiniLM-L6-v2"]["tokens_in"] == 5000 and usage.window_tokens == 0
    await store.record("alice", "nexus-local", 90, 20)
    assert not (await store.admit("alice")).allowed  # answers spend it
    assert (await store.admit("alice", quota=False)).allowed  # embeddings still go through
    await store.aclose()
