"""Per-user token buckets per endpoint class: a burst is allowed, a sustained flood gets 429 + Retry-After.

Each endpoint class (``chat``, ``completion``, ``voice``, ``default``...) has its
own rate and burst, so a user typing fast (many inline completions) does not use
up their chat quota. In-process and lock-free (the tornado loop is
single-threaded); gateway replicas that must share one quota use a
Redis-backed limiter with the same interface.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

DEFAULT_CLASS = "default"

# Sensible per-class defaults: completions fire on every typing pause, voice clips are expensive.
DEFAULT_CLASS_LIMITS: dict[str, dict[str, float]] = {
    "chat": {"per_minute": 60, "burst": 15},
    "completion": {"per_minute": 600, "burst": 60},
    "voice": {"per_minute": 30, "burst": 6},
}


@dataclass(frozen=True)
class BucketPolicy:
    per_minute: float
    burst: int

    @property
    def rate(self) -> float:
        return self.per_minute / 60.0

    @classmethod
    def parse(cls, name: str, value: Any) -> BucketPolicy:
        """From ``{"per_minute": 60, "burst": 10}``; a clear ``ValueError`` for anything else."""
        if not isinstance(value, Mapping) or not {"per_minute", "burst"} <= set(value):
            raise ValueError(f"rate limit class {name!r} needs per_minute and burst, got {value!r}")
        per_minute, burst = float(value["per_minute"]), int(value["burst"])
        if per_minute < 0 or burst < 0:
            raise ValueError(f"rate limit class {name!r}: per_minute and burst must not be negative")
        return cls(per_minute, max(1, burst))


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    def __init__(
        self,
        per_minute: float,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
        classes: Mapping[str, Any] | None = None,
    ) -> None:
        self._clock = clock
        self.policies: dict[str, BucketPolicy] = {DEFAULT_CLASS: BucketPolicy(per_minute, max(1, burst))}
        for name, value in (classes or {}).items():
            self.policies[name] = (
                value if isinstance(value, BucketPolicy) else BucketPolicy.parse(name, value)
            )
        self._buckets: dict[tuple[str, str], _Bucket] = {}

    # Kept for callers written against the single-bucket limiter.
    @property
    def rate(self) -> float:
        return self.policies[DEFAULT_CLASS].rate

    @property
    def burst(self) -> int:
        return self.policies[DEFAULT_CLASS].burst

    def policy(self, endpoint_class: str) -> BucketPolicy:
        return self.policies.get(endpoint_class) or self.policies[DEFAULT_CLASS]

    def acquire(self, key: str, cost: float = 1.0, endpoint_class: str = DEFAULT_CLASS) -> float:
        """Take ``cost`` tokens from ``key``'s bucket of this class; 0 if admitted, else seconds to wait."""
        policy = self.policy(endpoint_class)
        if policy.rate <= 0:
            return 0.0
        now = self._clock()
        slot = (endpoint_class if endpoint_class in self.policies else DEFAULT_CLASS, key)
        bucket = self._buckets.get(slot)
        if bucket is None:
            bucket = self._buckets[slot] = _Bucket(tokens=float(policy.burst), updated=now)
        bucket.tokens = min(policy.burst, bucket.tokens + (now - bucket.updated) * policy.rate)
        bucket.updated = now
        if bucket.tokens >= cost:
            bucket.tokens -= cost
            return 0.0
        return (cost - bucket.tokens) / policy.rate

    @staticmethod
    def retry_after_header(wait_s: float) -> str:
        return str(max(1, math.ceil(wait_s)))
