"""The performance monitor: NEXUS metrics on Jupyter's /metrics (parsed as Prometheus text), the summary."""

from __future__ import annotations

import json
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from nexus_server_ext import metrics


def samples(body: bytes) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            out.setdefault(sample.name, []).append(sample)
    return out


async def test_metrics_endpoint_has_nexus_metrics(jp_fetch: Any) -> None:
    for _ in range(3):
        await jp_fetch("nexus/api/v1/status")
    await jp_fetch("nexus/api/v1/commands/nope", method="POST", body="{}", raise_error=False)
    metrics.record_generation("smollm2-135m", ttft=0.2, tokens_per_s=25.0)
    metrics.record_fallback("chat", "openai/gpt", "local/smollm2")

    found = samples((await jp_fetch("metrics")).body)

    status = [
        s
        for s in found["nexus_http_requests_total"]
        if s.labels == {"handler": "StatusHandler", "method": "GET", "status": "2xx"}
    ]
    assert status and status[0].value >= 3
    assert any(s.labels.get("status") == "4xx" for s in found["nexus_http_requests_total"])
    buckets = [
        s
        for s in found["nexus_http_request_duration_seconds_bucket"]
        if s.labels["handler"] == "StatusHandler"
    ]
    assert buckets and max(s.value for s in buckets) >= 3
    assert any(s.labels == {"model": "smollm2-135m"} for s in found["nexus_generation_ttft_seconds_count"])
    assert any(
        s.labels["model"] == "smollm2-135m" for s in found["nexus_generation_tokens_per_second_bucket"]
    )
    assert any(s.labels["to_model"] == "local/smollm2" for s in found["nexus_fallbacks_total"])
    assert found["nexus_active_users"][0].value >= 1
    assert {s.labels["state"] for s in found["nexus_task_queue_depth"]} == {"pending", "running"}
    assert found["nexus_process_memory_bytes"][0].value > 10_000_000


async def test_summary_for_the_status_panel(jp_fetch: Any) -> None:
    await jp_fetch("nexus/api/v1/status")
    metrics.record_generation("summary-model", ttft=0.5, tokens_per_s=40.0)
    metrics.record_generation("summary-model", ttft=0.3, tokens_per_s=20.0)
    reply = json.loads((await jp_fetch("nexus/api/v1/metrics/summary")).body)
    assert reply["requests"] >= 1 and reply["latency_ms_p50"] > 0
    assert reply["active_users"] >= 1 and reply["memory_bytes"] > 10_000_000
    gpus = metrics.gpu_memory()  # only when torch is already loaded and sees a GPU
    assert (reply["gpu_memory_used_bytes"] is None) == (not gpus)
    model = next(m for m in reply["models"] if m["model"] == "summary-model")
    assert model["generations"] == 2 and model["tokens_per_s_avg"] == 30.0
    assert model["ttft_ms_p50"] in (300.0, 500.0)
