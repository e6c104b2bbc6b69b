"""Per-provider health: a consecutive-failure circuit breaker and latency tracking.

A provider that keeps failing is skipped for ``cooldown_s`` (open), then given
one trial request (half-open): success closes the breaker, failure opens it
again. Latencies are exponentially weighted so ``/models`` shows how a provider
behaves now, not on average since start-up.

An active probe (``probe.py``) adds its verdict to the same state: a failed probe
marks the provider down, and the breaker reads open until a probe succeeds, so
no user waits on a server known to be gone; a successful probe ends an open
breaker's cool-down early (the next request is its trial).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

BreakerState = Literal["closed", "open", "half_open"]


@dataclass
class ProbeSnapshot:
    ok: bool  # the server answered (below HTTP 500)
    detail: str  # "HTTP 200", "connection refused", "no answer in 5 s"
    age_s: float  # seconds since the probe


@dataclass
class HealthSnapshot:
    state: BreakerState
    consecutive_failures: int
    successes: int
    failures: int
    latency_ms: float | None
    ttft_ms: float | None
    last_error: str | None
    probe: ProbeSnapshot | None = None


class ProviderHealth:
    """Circuit breaker + EWMA latency for one provider (thread-safe: the gateway and server share it)."""

    def __init__(
        self,
        failure_threshold: int = 3,
        cooldown_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        alpha: float = 0.3,
    ) -> None:
        self.failure_threshold = max(1, failure_threshold)
        self.cooldown_s = cooldown_s
        self._clock = clock
        self._alpha = alpha
        self._lock = threading.Lock()
        self._consecutive = 0
        self._opened_at: float | None = None
        self._trial_in_flight = False
        self.successes = 0
        self.failures = 0
        self.latency_ms: float | None = None
        self.ttft_ms: float | None = None
        self.last_error: str | None = None
        self._probe: tuple[float, bool, str] | None = None  # (when, answered, detail) of the last probe

    @property
    def state(self) -> BreakerState:
        with self._lock:
            return self._state()

    def _state(self) -> BreakerState:
        if self._probe is not None and not self._probe[1]:
            return "open"  # down until a probe succeeds: no cool-down trial on a server known to be gone
        if self._opened_at is None:
            return "closed"
        if self._clock() - self._opened_at >= self.cooldown_s:
            return "half_open"
        return "open"

    def allow(self) -> bool:
        """May a request go to this provider now? In half-open, only one trial at a time."""
        with self._lock:
            state = self._state()
            if state == "closed":
                return True
            if state == "half_open" and not self._trial_in_flight:
                self._trial_in_flight = True
                return True
            return False

    def record_success(self, latency_ms: float, ttft_ms: float | None) -> None:
        with self._lock:
            self.successes += 1
            self._consecutive = 0
            self._opened_at = None
            self._trial_in_flight = False
            self.latency_ms = self._ewma(self.latency_ms, latency_ms)
            if ttft_ms is not None:
                self.ttft_ms = self._ewma(self.ttft_ms, ttft_ms)

    def record_failure(self, error: str) -> None:
        with self._lock:
            self.failures += 1
            self._consecutive += 1
            self.last_error = error
            if self._trial_in_flight or self._consecutive >= self.failure_threshold:
                self._opened_at = self._clock()
            self._trial_in_flight = False

    def record_probe(self, ok: bool, detail: str) -> bool:
        """A probe's verdict; returns whether it moved the provider between up and down."""
        with self._lock:
            was_down = self._probe is not None and not self._probe[1]
            self._probe = (self._clock(), ok, detail)
            if not ok:
                self.last_error = f"probe: {detail}"
            elif self._opened_at is not None and not self._trial_in_flight:
                self._opened_at = self._clock() - self.cooldown_s  # half-open: the next request decides
            return was_down == ok

    def release_trial(self) -> None:
        """A half-open trial ended without a verdict (the client cancelled): let the next one try."""
        with self._lock:
            self._trial_in_flight = False

    def _ewma(self, old: float | None, new: float) -> float:
        return new if old is None else old + self._alpha * (new - old)

    def snapshot(self) -> HealthSnapshot:
        with self._lock:
            return HealthSnapshot(
                state=self._state(),
                consecutive_failures=self._consecutive,
                successes=self.successes,
                failures=self.failures,
                latency_ms=None if self.latency_ms is None else round(self.latency_ms, 1),
                ttft_ms=None if self.ttft_ms is None else round(self.ttft_ms, 1),
                last_error=self.last_error,
                probe=None
                if self._probe is None
                else ProbeSnapshot(
                    self._probe[1], self._probe[2], round(max(0.0, self._clock() - self._probe[0]), 1)
                ),
            )
