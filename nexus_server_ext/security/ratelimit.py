"""Per-user token buckets per endpoint class: a burst is allowed, a sustained flood gets 429 + Retry-After.

Each endpoint class (``chat``, ``completion``, ``voice``, ``default``...) has its
own rate and burst, so a user typing fast (many inline completions) does not use
up their chat quota. In-process and lock-free (the tornado loop is
single-threaded); gateway replicas that must share one quota use a
Redis-backed limiter with the same interface.

Its settings are ``c.RateLimiter.*`` traits (``per_minute``, ``burst``,
``classes``); ``NexusApp.rate_limiter_class`` replaces the class.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from traitlets import Dict, Float, Int, TraitError, observe, validate
from traitlets.config import LoggingConfigurable

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


class RateLimiter(LoggingConfigurable):
    """Token buckets per (endpoint class, user); ``acquire`` says whether a request may go ahead."""

    per_minute = Float(
        120.0, help="Sustained AI requests per user per minute (0 disables rate limiting)."
    ).tag(config=True)

    burst = Int(30, help="AI requests a user may make at once before the rate limit applies.").tag(
        config=True
    )

    classes = Dict(
        default_value=DEFAULT_CLASS_LIMITS,
        help="Per-endpoint-class token buckets, e.g. {'chat': {'per_minute': 60, 'burst': 15}, "
        "'completion': {...}, 'voice': {...}}. Classes not listed use per_minute / burst; "
        "per_minute 0 disables a class.",
    ).tag(config=True)

    def __init__(self, clock: Callable[[], float] = time.monotonic, **kwargs: Any) -> None:
        """Settings (``per_minute``, ``burst``, ``classes``) come from the config or as keywords."""
        super().__init__(**kwargs)
        self._clock = clock
        self.policies = self._policies()
        self._buckets: dict[tuple[str, str], _Bucket] = {}

    @validate("classes")
    def _check_classes(self, proposal: Any) -> dict[str, Any]:
        for name, value in proposal["value"].items():
            if not isinstance(value, BucketPolicy):
                try:
                    BucketPolicy.parse(name, value)
                except ValueError as exc:
                    raise TraitError(str(exc)) from exc
        return dict(proposal["value"])

    @observe("per_minute", "burst", "classes")
    def _settings_changed(self, change: Any) -> None:
        if hasattr(self, "_buckets"):  # changed after start: new policies, full buckets
            self.policies = self._policies()
            self._buckets.clear()

    def _policies(self) -> dict[str, BucketPolicy]:
        policies = {DEFAULT_CLASS: BucketPolicy(self.per_minute, max(1, self.burst))}
        for name, value in self.classes.items():
            policies[name] = value if isinstance(value, BucketPolicy) else BucketPolicy.parse(name, value)
        return policies

    # Kept for callers written against the single-bucket limiter.
    @property
    def rate(self) -> float:
        return self.policies[DEFAULT_CLASS].rate

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
