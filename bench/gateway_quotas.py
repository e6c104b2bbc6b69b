"""What per-user quotas cost the gateway per request: admit + record, memory vs Redis.

    python bench/gateway_quotas.py [--n 2000] [--redis-url redis://127.0.0.1:6379/0]

Prints one JSON object. The baseline, measured in the same run, is a store with
limits disabled (the gateway's default without quotas); the other rows are
absolute per-request costs and their ratio to a model call is what matters: a
completion takes hundreds of milliseconds, so a quota check should stay well
under a millisecond in memory and around one Redis round trip shared by replicas.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
import uuid
from typing import Any

from nexus_server_ext.gateway.quotas import MemoryUsageStore, QuotaPolicy, RedisUsageStore, UsageStore


async def measure(store: UsageStore, n: int) -> dict[str, Any]:
    samples = []
    users = [f"user{i}" for i in range(20)]
    for i in range(n):
        user = users[i % len(users)]
        started = time.perf_counter()
        decision = await store.admit(user)
        if decision.allowed:
            await store.record(user, "nexus-local", 50, 20)
        samples.append((time.perf_counter() - started) * 1e6)
    samples.sort()
    return {
        "p50_us": round(statistics.median(samples), 1),
        "p95_us": round(samples[int(0.95 * len(samples))], 1),
        "mean_us": round(statistics.fmean(samples), 1),
    }


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args()
    limited = QuotaPolicy(requests_per_minute=1e9, burst=1_000_000, tokens_per_window=10**12)
    results: dict[str, Any] = {
        "n": args.n,
        "baseline_no_limits": await measure(MemoryUsageStore(QuotaPolicy(0, 1, 0)), args.n),
        "memory": await measure(MemoryUsageStore(limited), args.n),
    }
    prefix = f"nexus-bench-{uuid.uuid4().hex[:8]}"
    redis_store = RedisUsageStore(limited, args.redis_url, prefix)
    try:
        await redis_store.redis.ping()
        results["redis"] = await measure(redis_store, args.n)
        keys = [k async for k in redis_store.redis.scan_iter(f"{prefix}:*")]
        if keys:
            await redis_store.redis.delete(*keys)
    except OSError as exc:
        results["redis"] = {"error": f"Redis unreachable: {exc}"}
    finally:
        await redis_store.aclose()
    base = results["baseline_no_limits"]["p50_us"]
    for name in ("memory", "redis"):
        if "p50_us" in results[name]:
            results[name]["p50_over_baseline_us"] = round(results[name]["p50_us"] - base, 1)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
