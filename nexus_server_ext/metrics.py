"""The performance monitor: NEXUS metrics on Jupyter Server's own ``/metrics`` (Prometheus text format).

Jupyter Server serves prometheus_client's default registry, so NEXUS registers
its metrics there once per process and a Prometheus scrape of the server sees
them next to Jupyter's. The AI engine reports generations, fallbacks and repairs through
``record_generation`` / ``record_fallback`` / ``record_repair``, counting what the chat shows as
"Fallback:" and "Repair:" lines; the router counts how each answer ended (``record_answer``), the
storage health checks their outcome (``record_storage_health``), and the local engines' queues and
the circuit breakers are read at scrape time; every NEXUS REST handler reports
its latency and status from ``NexusHandler.on_finish``. The shipped alerting rules
(``deploy/prometheus/nexus-alerts.rules.yml``) read these names. A small in-process
window of the same numbers feeds ``GET /metrics/summary`` (percentiles, averages,
and the recent series of ``metrics_series``) without parsing Prometheus output.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from prometheus_client import REGISTRY, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily

from .metrics_series import MetricsSeries

if TYPE_CHECKING:
    from .api_models import MetricsSummary

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
_TTFT_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32)
_TPS_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)
ACTIVE_WINDOW_S = 300.0

REQUESTS = Counter(
    "nexus_http_requests",
    "NEXUS API requests by handler, method and status class",
    ["handler", "method", "status"],
)
LATENCY = Histogram(
    "nexus_http_request_duration_seconds",
    "NEXUS API latency per endpoint",
    ["handler", "method"],
    buckets=_LATENCY_BUCKETS,
)
ERRORS = Counter("nexus_http_errors", "NEXUS API responses with a 5xx status", ["handler"])
TTFT = Histogram(
    "nexus_generation_ttft_seconds", "Time to first token per model", ["model"], buckets=_TTFT_BUCKETS
)
TOKENS_PER_S = Histogram(
    "nexus_generation_tokens_per_second", "Generation speed per model", ["model"], buckets=_TPS_BUCKETS
)
GENERATIONS = Counter("nexus_generations", "Completed generations per model", ["model"])
FALLBACKS = Counter(
    "nexus_fallbacks",
    "Times a model failed (error, open circuit breaker, invalid code) and another model answered",
    ["task", "from_model", "to_model"],
)
REPAIRS = Counter(
    "nexus_repairs", "Times a model was asked again to repair code that did not parse", ["task", "model"]
)
ACTIVE_USERS = Gauge("nexus_active_users", f"Users with a NEXUS request in the last {int(ACTIVE_WINDOW_S)} s")
QUEUE_DEPTH = Gauge("nexus_task_queue_depth", "Background tasks by state", ["state"])
COMMANDS = Counter("nexus_commands_run", "Commands executed through the commands API", ["command", "outcome"])
COMPLETIONS = Counter(
    "nexus_completions",
    "Inline completions per model: shown, suppressed (the model was unsure) or empty (nothing to add)",
    ["model", "verdict"],
)
ANSWERS = Counter(
    "nexus_model_answers",
    "Answers the model router finished per task: ok, failed (every model of the chain failed or was "
    "skipped) or busy (refused because every model that could answer had a full queue)",
    ["task", "outcome"],
)
STORAGE_HEALTHY = Gauge(
    "nexus_storage_healthy",
    "1 when the store answered its last health check, 0 when it did not (database: the /status "
    "probe; vector_memory: the Chroma server's heartbeat or the embedded store's folder)",
    ["store"],
)


def rss_bytes() -> int | None:
    """Resident memory of this process (Linux ``/proc``; None elsewhere)."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def gpu_memory() -> list[tuple[str, int, int]]:
    """(device, used, total bytes) per CUDA device, only if torch is already loaded (never imports it)."""
    torch: Any = sys.modules.get("torch")
    if torch is None:
        return []
    try:
        if not torch.cuda.is_available():
            return []
        out = []
        for i in range(torch.cuda.device_count()):
            free, total = torch.cuda.mem_get_info(i)
            out.append((f"cuda:{i}", int(total - free), int(total)))
        return out
    except Exception:
        return []


_ROUTERS: weakref.WeakSet[Any] = weakref.WeakSet()


def track_router(router: Any) -> None:
    """Report ``router``'s circuit breakers at scrape time (each ``ModelRouter`` calls this)."""
    _ROUTERS.add(router)


def breakers_open() -> dict[str, int]:
    """Per provider, 1 while any router's breaker for it is open or half-open (not yet shown healthy)."""
    out: dict[str, int] = {}
    for router in list(_ROUTERS):
        for provider, health in list(router.health.items()):
            out[provider] = max(out.get(provider, 0), int(health.state != "closed"))
    return out


def engine_queues() -> dict[tuple[str, str], tuple[int, int]]:
    """(requests queued or running, queue capacity) per (model, backend) of the local engines this
    process made: those its routers' providers use (the gateway may swap in a llama-server engine),
    the ones they fall back on, and any other made by ``get_engine``. Nothing is imported here."""
    found: dict[int, Any] = {}
    for router in list(_ROUTERS):
        for provider in list(router.providers.values()):
            engine = getattr(provider, "engine", None)
            if engine is not None and hasattr(engine, "max_queue"):
                found[id(engine)] = engine
    for engine in list(found.values()):
        fallback = getattr(engine, "fallback", None)
        if fallback is not None:
            found.setdefault(id(fallback), fallback)
    module: Any = sys.modules.get("nexus_server_ext.ai.engines")
    if module is not None:
        for engine in module.loaded_engines():
            found.setdefault(id(engine), engine)
    out: dict[tuple[str, str], tuple[int, int]] = {}
    for engine in found.values():
        key = (str(engine.source), str(engine.backend))
        pending, capacity = out.get(key, (0, 0))
        out[key] = (pending + int(engine.pending), capacity + int(engine.max_queue))
    return out


class _ResourceCollector:
    """Memory, GPU memory, local engines' queues and circuit breakers, read at scrape time (so the
    numbers are never stale)."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        rss = rss_bytes()
        mem = GaugeMetricFamily("nexus_process_memory_bytes", "Resident memory of the Jupyter server process")
        if rss is not None:
            mem.add_metric([], rss)
        yield mem
        gpu = GaugeMetricFamily(
            "nexus_gpu_memory_used_bytes", "GPU memory in use per device", labels=["device"]
        )
        for device, used, _total in gpu_memory():
            gpu.add_metric([device], used)
        yield gpu
        queued = GaugeMetricFamily(
            "nexus_engine_queue_requests",
            "Requests queued or running in a local model engine",
            labels=["model", "backend"],
        )
        capacity = GaugeMetricFamily(
            "nexus_engine_queue_capacity",
            "Requests a local model engine holds (queued or running) before it refuses more as busy",
            labels=["model", "backend"],
        )
        for (model, backend), (pending, size) in sorted(engine_queues().items()):
            queued.add_metric([model, backend], pending)
            capacity.add_metric([model, backend], size)
        yield queued
        yield capacity
        breakers = GaugeMetricFamily(
            "nexus_circuit_breaker_open",
            "1 while a model provider's circuit breaker is open or half-open (it is skipped until a "
            "trial request succeeds), 0 while closed",
            labels=["provider"],
        )
        for provider, is_open in sorted(breakers_open().items()):
            breakers.add_metric([provider], is_open)
        yield breakers


_collector_lock = threading.Lock()
_collector_registered = False


def register_collectors() -> None:
    """Add the scrape-time collector to the default registry once per process."""
    global _collector_registered
    with _collector_lock:
        if not _collector_registered:
            REGISTRY.register(_ResourceCollector())
            _collector_registered = True


@dataclass
class _ModelWindow:
    ttft: deque[float] = field(default_factory=lambda: deque(maxlen=500))
    tps: deque[float] = field(default_factory=lambda: deque(maxlen=500))
    count: int = 0


class MetricsWindow:
    """Recent numbers kept in memory for the status panel (Prometheus keeps the long history)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.latencies: deque[float] = deque(maxlen=2000)
        self.requests = 0
        self.errors = 0
        self.fallbacks = 0
        self.repairs = 0
        self.models: dict[str, _ModelWindow] = {}
        self.last_seen: dict[str, float] = {}
        self.queue: dict[str, int] = {"pending": 0, "running": 0}
        self.series = MetricsSeries()

    def active_users(self) -> int:
        cutoff = self.clock() - ACTIVE_WINDOW_S
        for user in [u for u, t in self.last_seen.items() if t < cutoff]:
            del self.last_seen[user]
        return len(self.last_seen)


WINDOW = MetricsWindow()


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


# -- recording functions (the API other parts of NEXUS call) ---------------------------------------------
def record_request(handler: str, method: str, status: int, seconds: float, username: str | None) -> None:
    REQUESTS.labels(handler, method, f"{status // 100}xx").inc()
    LATENCY.labels(handler, method).observe(seconds)
    WINDOW.requests += 1
    WINDOW.latencies.append(seconds)
    WINDOW.series.current().requests += 1
    if status >= 500:
        ERRORS.labels(handler).inc()
        WINDOW.errors += 1
    if username:
        WINDOW.last_seen[username] = WINDOW.clock()
        ACTIVE_USERS.set(WINDOW.active_users())


def record_generation(model: str, ttft: float, tokens_per_s: float, latency: float | None = None) -> None:
    """One finished generation: ``ttft`` and ``latency`` (the whole answer) in seconds, speed in tokens/s."""
    TTFT.labels(model).observe(ttft)
    TOKENS_PER_S.labels(model).observe(tokens_per_s)
    GENERATIONS.labels(model).inc()
    window = WINDOW.models.setdefault(model, _ModelWindow())
    window.ttft.append(ttft)
    window.tps.append(tokens_per_s)
    window.count += 1
    bucket = WINDOW.series.current()
    bucket.ttft.append(ttft)
    bucket.tps.append(tokens_per_s)
    bucket.latencies.append(ttft if latency is None else latency)


def record_fallback(task: str, from_model: str, to_model: str) -> None:
    """``from_model`` failed and ``to_model`` answered instead (a chat "Fallback:" line)."""
    FALLBACKS.labels(task, from_model, to_model).inc()
    WINDOW.fallbacks += 1
    WINDOW.series.current().fallbacks += 1


def record_repair(task: str, model: str) -> None:
    """``model`` wrote code that did not parse and is asked to repair it (a chat "Repair:" line)."""
    REPAIRS.labels(task, model).inc()
    WINDOW.repairs += 1
    WINDOW.series.current().repairs += 1


def record_command(command: str, outcome: str) -> None:
    COMMANDS.labels(command, outcome).inc()


def record_completion(model: str, verdict: str) -> None:
    """One finished inline completion: ``shown`` | ``suppressed`` | ``empty``."""
    COMPLETIONS.labels(model, verdict).inc()


def record_answer(task: str, outcome: str) -> None:
    """One answer of the model router: ``ok`` | ``failed`` | ``busy``."""
    ANSWERS.labels(task, outcome).inc()


def record_storage_health(store: str, healthy: bool) -> None:
    """The outcome of a store's health check: ``database`` | ``vector_memory``."""
    STORAGE_HEALTHY.labels(store).set(1 if healthy else 0)


def set_queue_depth(pending: int, running: int) -> None:
    QUEUE_DEPTH.labels("pending").set(pending)
    QUEUE_DEPTH.labels("running").set(running)
    WINDOW.queue = {"pending": pending, "running": running}
    WINDOW.series.queue_depth(pending, running)


def summary() -> MetricsSummary:
    """``GET /metrics/summary``: this process's recent numbers (the server's, or an in-process kernel's)."""
    from datetime import datetime, timezone

    from .api_models import MetricsPoint, MetricsSummary, ModelMetrics

    w = WINDOW
    latencies = list(w.latencies)
    p50, p95 = percentile(latencies, 0.5), percentile(latencies, 0.95)
    models = []
    for name, mw in sorted(w.models.items()):
        ttft = percentile(list(mw.ttft), 0.5)
        tps = list(mw.tps)
        models.append(
            ModelMetrics(
                model=name,
                generations=mw.count,
                ttft_ms_p50=None if ttft is None else ttft * 1000,
                tokens_per_s_avg=sum(tps) / len(tps) if tps else None,
            )
        )
    gpu = gpu_memory()
    series = [
        MetricsPoint(**{**p, "at": datetime.fromtimestamp(p["at"], timezone.utc)}) for p in w.series.points()
    ]
    return MetricsSummary(
        requests=w.requests,
        errors=w.errors,
        error_rate=w.errors / w.requests if w.requests else 0.0,
        latency_ms_p50=None if p50 is None else p50 * 1000,
        latency_ms_p95=None if p95 is None else p95 * 1000,
        active_users=w.active_users(),
        queue_pending=w.queue.get("pending", 0),
        queue_running=w.queue.get("running", 0),
        fallbacks=w.fallbacks,
        repairs=w.repairs,
        memory_bytes=rss_bytes(),
        gpu_memory_used_bytes=sum(used for _d, used, _t in gpu) if gpu else None,
        models=models,
        series_interval_s=w.series.interval_s,
        series=series,
    )
