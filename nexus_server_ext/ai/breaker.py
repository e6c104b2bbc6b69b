"""Per-provider health: a consecutive-failure circuit breaker and latency tracking.

A provider that keeps failing is skipped for ``cooldown_s`` (open), then given
one trial request (half-open): success closes the breaker, failure opens it
again. Latencies are exponentially weighted so ``/models`` shows how a provider
behaves now, not on average since start-up.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

BreakerState = Literal["closed", "open", "half_open"]


@dataclass
class HealthSnapshot:
    state: BreakerState
    consecutive_failures: int
    successes: int
    failures: int
    latency_ms: float | None
    ttft_ms: float | None
    last_error: str | None


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

    @property
    def state(self) -> BreakerState:
        with self._lock:
            return self._state()

    def _state(self) -> BreakerState:
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
            )
