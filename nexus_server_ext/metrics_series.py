"""The performance monitor's recent history: one bucket of numbers per interval, for the dashboards.

Prometheus keeps the long history when an operator runs one; a user looking at
the model dashboard or the JupyterLab panel wants the last half hour at a glance
without one. Each interval (10 s by default) keeps its request count, the model
answers' latencies, time to first token and speed, fallbacks and repairs (the
chat's "Fallback:" and "Repair:" lines), and the deepest task queue seen;
``points`` fills the quiet intervals in, so a plot's time axis is even.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

INTERVAL_S = 10.0
POINTS = 180  # half an hour


def median(values: list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


@dataclass
class Bucket:
    start: float  # wall-clock seconds
    requests: int = 0
    latencies: list[float] = field(default_factory=list)  # model answers, seconds
    ttft: list[float] = field(default_factory=list)
    tps: list[float] = field(default_factory=list)
    fallbacks: int = 0
    repairs: int = 0
    queue_pending: int = 0
    queue_running: int = 0

    def point(self) -> dict[str, Any]:
        ttft, latency = median(self.ttft), median(self.latencies)
        return {
            "at": self.start,
            "requests": self.requests,
            "generations": len(self.tps),
            "latency_ms_p50": None if latency is None else latency * 1000,
            "ttft_ms_p50": None if ttft is None else ttft * 1000,
            "tokens_per_s": sum(self.tps) / len(self.tps) if self.tps else None,
            "fallbacks": self.fallbacks,
            "repairs": self.repairs,
            "queue_pending": self.queue_pending,
            "queue_running": self.queue_running,
        }


class MetricsSeries:
    def __init__(
        self, interval_s: float = INTERVAL_S, points: int = POINTS, clock: Callable[[], float] = time.time
    ) -> None:
        self.interval_s = interval_s
        self.clock = clock
        self.buckets: deque[Bucket] = deque(maxlen=points)
        self.queue = (0, 0)  # pending, running: carried into quiet intervals

    def current(self) -> Bucket:
        now = self.clock()
        start = now - now % self.interval_s
        if not self.buckets or self.buckets[-1].start < start:
            pending, running = self.queue
            self.buckets.append(Bucket(start, queue_pending=pending, queue_running=running))
        return self.buckets[-1]

    def queue_depth(self, pending: int, running: int) -> None:
        self.queue = (pending, running)
        bucket = self.current()
        bucket.queue_pending = max(bucket.queue_pending, pending)
        bucket.queue_running = max(bucket.queue_running, running)

    def points(self) -> list[dict[str, Any]]:
        """One point per interval from the oldest kept to now, the quiet ones included."""
        if not self.buckets:
            return []
        self.current()
        by_start = {b.start: b for b in self.buckets}
        first, last = self.buckets[0].start, self.buckets[-1].start
        count = min(round((last - first) / self.interval_s) + 1, self.buckets.maxlen or POINTS)
        out = []
        pending, running = self.buckets[0].queue_pending, self.buckets[0].queue_running
        for i in range(count):
            start = last - (count - 1 - i) * self.interval_s
            bucket = by_start.get(start)
            if bucket is None:
                bucket = Bucket(start, queue_pending=pending, queue_running=running)
            pending, running = bucket.queue_pending, bucket.queue_running
            out.append(bucket.point())
        return out
