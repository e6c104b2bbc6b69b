"""Per-user rate limits, token quotas and the usage ledger of the model gateway.

Two stores with one interface: ``MemoryUsageStore`` for a single gateway
process, ``RedisUsageStore`` when several replicas must share one quota (every
decision is one atomic Lua script on the Redis server, using the server's
clock, so replicas on different nodes agree). The rate limit is a token bucket
(a burst is allowed, a sustained flood waits); the token quota is a fixed
window (``window_s``, a day by default) counting prompt + completion tokens,
refused once spent until the window turns over.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

LEDGER_FIELDS = ("requests", "tokens_in", "tokens_out")


@dataclass(frozen=True)
class QuotaPolicy:
    """What one user may spend. Zero disables the rate limit or the quota."""

    requests_per_minute: float = 60.0
    burst: int = 10
    tokens_per_window: int = 0
    window_s: int = 86400


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str = "ok"  # ok | rate | quota
    retry_after_s: float = 0.0
    tokens_left: int | None = None  # None: no token quota

    @property
    def retry_after_header(self) -> str:
        return str(max(1, math.ceil(self.retry_after_s)))


@dataclass
class UserUsage:
    """One user's line in the ledger: totals per model since the ledger began, and the current window."""

    user: str
    models: dict[str, dict[str, int]] = field(default_factory=dict)
    window_tokens: int = 0

    @property
    def totals(self) -> dict[str, int]:
        return {f: sum(m.get(f, 0) for m in self.models.values()) for f in LEDGER_FIELDS}

    def as_dict(self, policy: QuotaPolicy) -> dict[str, Any]:
        return {
            "user": self.user,
            **self.totals,
            "models": self.models,
            "window_tokens": self.window_tokens,
            "window_quota": policy.tokens_per_window or None,
        }


class UsageStore(Protocol):
    policy: QuotaPolicy
    backend: str

    async def admit(self, user: str, quota: bool = True) -> Decision: ...

    async def record(
        self, user: str, model: str, tokens_in: int, tokens_out: int, quota: bool = True
    ) -> None: ...

    async def ledger(self, user: str | None = None) -> list[UserUsage]: ...

    async def aclose(self) -> None: ...


def _window(policy: QuotaPolicy, now: float) -> tuple[int, float]:
    """(window number, seconds until it ends)."""
    number = int(now // policy.window_s)
    return number, (number + 1) * policy.window_s - now


class MemoryUsageStore:
    """One process's quotas; lock-free because the tornado loop is single-threaded."""

    backend = "memory"

    def __init__(self, policy: QuotaPolicy, clock: Any = time.time) -> None:
        self.policy = policy
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._window_tokens: dict[tuple[str, int], int] = {}
        self._ledger: dict[str, dict[str, dict[str, int]]] = {}

    async def admit(self, user: str, quota: bool = True) -> Decision:
        p, now = self.policy, self._clock()
        left = None
        if p.tokens_per_window > 0 and quota:
            number, ends_in = _window(p, now)
            used = self._window_tokens.get((user, number), 0)
            if used >= p.tokens_per_window:
                return Decision(False, "quota", ends_in, 0)
            left = p.tokens_per_window - used
        if p.requests_per_minute > 0:
            rate = p.requests_per_minute / 60.0
            tokens, updated = self._buckets.get(user, (float(p.burst), now))
            tokens = min(float(p.burst), tokens + max(0.0, now - updated) * rate)
            if tokens < 1.0:
                return Decision(False, "rate", (1.0 - tokens) / rate, left)
            self._buckets[user] = (tokens - 1.0, now)
        return Decision(True, tokens_left=left)

    async def record(
        self, user: str, model: str, tokens_in: int, tokens_out: int, quota: bool = True
    ) -> None:
        if self.policy.tokens_per_window > 0 and quota:
            key = (user, _window(self.policy, self._clock())[0])
            self._window_tokens[key] = self._window_tokens.get(key, 0) + tokens_in + tokens_out
        row = self._ledger.setdefault(user, {}).setdefault(model, dict.fromkeys(LEDGER_FIELDS, 0))
        row["requests"] += 1
        row["tokens_in"] += tokens_in
        row["tokens_out"] += tokens_out

    async def ledger(self, user: str | None = None) -> list[UserUsage]:
        number = _window(self.policy, self._clock())[0]
        names = sorted(self._ledger) if user is None else [user]
        return [
            UserUsage(
                name,
                {m: dict(v) for m, v in self._ledger.get(name, {}).items()},
                self._window_tokens.get((name, number), 0),
            )
            for name in names
        ]

    async def aclose(self) -> None:
        return None


# One round trip per decision, on the Redis server's clock. KEYS: bucket. ARGV: rate per second,
# burst, token quota, window length, window-counter key prefix.
# Returns {allowed (0/1), reason, retry-after seconds (string), tokens left (-1: no quota)}.
_ADMIT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local quota, window = tonumber(ARGV[3]), tonumber(ARGV[4])
local left = -1
if quota > 0 then
  local number = math.floor(now / window)
  local used = tonumber(redis.call('GET', ARGV[5] .. number) or '0')
  if used >= quota then return {0, 'quota', tostring((number + 1) * window - now), 0} end
  left = quota - used
end
if rate > 0 then
  local b = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
  local tokens, ts = tonumber(b[1]) or burst, tonumber(b[2]) or now
  tokens = math.min(burst, tokens + math.max(0, now - ts) * rate)
  if tokens < 1 then return {0, 'rate', tostring((1 - tokens) / rate), left} end
  redis.call('HSET', KEYS[1], 'tokens', tostring(tokens - 1), 'ts', tostring(now))
  redis.call('EXPIRE', KEYS[1], math.ceil(burst / rate) + 60)
end
return {1, 'ok', '0', left}
"""

# KEYS: ledger hash, users set. ARGV: user, model, tokens in, tokens out, window length
# (0: no quota), window-counter key prefix.
_RECORD = """
local tin, tout, window = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
if window > 0 then
  local t = redis.call('TIME')
  local key = ARGV[6] .. math.floor(tonumber(t[1]) / window)
  redis.call('INCRBY', key, tin + tout)
  redis.call('EXPIRE', key, window + 60)
end
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('HINCRBY', KEYS[1], ARGV[2] .. '|requests', 1)
redis.call('HINCRBY', KEYS[1], ARGV[2] .. '|tokens_in', tin)
redis.call('HINCRBY', KEYS[1], ARGV[2] .. '|tokens_out', tout)
return 1
"""


class RedisUsageStore:
    """Quotas and ledger in Redis, shared by every gateway replica that uses the same ``prefix``.

    Each admit and each record is one Lua script, so one round trip, atomic across replicas.
    """

    backend = "redis"

    def __init__(self, policy: QuotaPolicy, url: str, prefix: str = "nexus-gateway") -> None:
        import redis.asyncio as aioredis

        self.policy = policy
        self.prefix = prefix
        self.redis = aioredis.from_url(url, decode_responses=True, socket_connect_timeout=5)
        self._admit = self.redis.register_script(_ADMIT)
        self._record = self.redis.register_script(_RECORD)

    def _key(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    def _window_prefix(self, user: str) -> str:
        return self._key("window", user, "")

    async def admit(self, user: str, quota: bool = True) -> Decision:
        p = self.policy
        rate = p.requests_per_minute / 60.0
        args: list[str | int | float] = [
            rate,
            p.burst,
            p.tokens_per_window if quota else 0,
            p.window_s,
            self._window_prefix(user),
        ]
        allowed, reason, retry, left = await self._admit(keys=[self._key("bucket", user)], args=args)
        return Decision(bool(allowed), str(reason), float(retry), None if int(left) < 0 else int(left))

    async def record(
        self, user: str, model: str, tokens_in: int, tokens_out: int, quota: bool = True
    ) -> None:
        window = self.policy.window_s if self.policy.tokens_per_window > 0 and quota else 0
        keys = [self._key("ledger", user), self._key("users")]
        args: list[str | int | float] = [
            user,
            model,
            tokens_in,
            tokens_out,
            window,
            self._window_prefix(user),
        ]
        await self._record(keys=keys, args=args)

    async def ledger(self, user: str | None = None) -> list[UserUsage]:
        members = await self.redis.smembers(self._key("users")) if user is None else {user}
        names = sorted(str(m) for m in members)
        seconds, _ = await self.redis.time()
        number = _window(self.policy, float(seconds))[0]
        out = []
        for name in names:
            raw: dict[Any, Any] = await self.redis.hgetall(self._key("ledger", name))
            models: dict[str, dict[str, int]] = {}
            for key, value in raw.items():
                model, _, name_of_field = str(key).rpartition("|")
                models.setdefault(model, dict.fromkeys(LEDGER_FIELDS, 0))[name_of_field] = int(value)
            window = int(await self.redis.get(f"{self._window_prefix(name)}{number}") or 0)
            out.append(UserUsage(name, models, window))
        return out

    async def aclose(self) -> None:
        await self.redis.aclose()


def make_usage_store(policy: QuotaPolicy, redis_url: str = "", prefix: str = "nexus-gateway") -> UsageStore:
    """Redis when a URL is given (replicas share quotas), else this process's memory."""
    if redis_url:
        return RedisUsageStore(policy, redis_url, prefix)
    return MemoryUsageStore(policy)
