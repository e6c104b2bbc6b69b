"""The performance monitor: NEXUS metrics on Jupyter's /metrics (parsed as Prometheus text), the summary,
and its series counting the fallbacks and repairs the chat shows."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from nexus_server_ext import metrics
from tests.support.scripted_models import ScriptedModelServer


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


INVALID = "```python\ndef total(xs:\n    return sum(xs)\n```"
VALID = "```python\ndef total(xs):\n    return sum(xs)\n```\nSums the list."

# (gpt-x's turns, gpt-y's turns, the answer's route, the chat's lines under it: fallbacks, repairs)
ANSWERS = [
    # "Repair: gpt-x wrote code that did not work (...); it tries again", and the repair parses
    ([INVALID, VALID], [], ["gpt-x invalid", "gpt-x repaired"], (0, 1)),
    # that Repair line, then "Fallback: gpt-x failed (invalid code: ...); gpt-y answers instead"
    ([INVALID, INVALID], [VALID], ["gpt-x invalid", "gpt-x invalid", "gpt-y ok"], (1, 1)),
    # "Fallback: primary/gpt-x failed (... 500 ...)"
    ([{"status": 500}], [VALID], ["gpt-x error", "gpt-y ok"], (1, 0)),
]


def counted(summary: dict[str, Any], since: str) -> tuple[int, int]:
    """Fallbacks and repairs in the series' points from ``since`` on (other tests share the process)."""
    points = [p for p in summary["series"] if p["at"] >= since]
    return sum(p["fallbacks"] for p in points), sum(p["repairs"] for p in points)


def minus(a: tuple[float, float], b: tuple[float, float]) -> tuple[float, float]:
    return a[0] - b[0], a[1] - b[1]


def scraped(body: bytes) -> tuple[float, float]:
    """gpt-x -> gpt-y fallbacks and gpt-x repairs for code generation on ``/metrics``."""
    found = samples(body)
    fallback = {"task": "code_generation", "from_model": "gpt-x", "to_model": "gpt-y"}
    fallbacks = sum(s.value for s in found.get("nexus_fallbacks_total", []) if s.labels == fallback)
    repair = {"task": "code_generation", "model": "gpt-x"}
    repairs = sum(s.value for s in found.get("nexus_repairs_total", []) if s.labels == repair)
    return fallbacks, repairs


class TestFallbacksAndRepairsAsTheChatShowsThem:
    """Two stand-ins for paid models, gpt-x then gpt-y: code that does not parse is repaired by the same
    model or answered by the next one, a model that fails is replaced, and the dashboard counts each
    as the chat shows it (the real pipeline, on a real server)."""

    @pytest.fixture
    def models(self) -> Iterator[tuple[ScriptedModelServer, ScriptedModelServer]]:
        with ScriptedModelServer([]) as primary, ScriptedModelServer([]) as backup:
            yield primary, backup

    @pytest.fixture
    def jp_server_config(self, nexus_config: Any, models: Any) -> dict[str, Any]:
        primary, backup = models
        routing = {
            "providers": {
                name: {"kind": "openai", "base_url": server.url, "api_key": "scripted-key"}
                for name, server in (("primary", primary), ("backup", backup))
            },
            "tasks": {
                "code_generation": {
                    "chain": [
                        {"provider": "primary", "model": "gpt-x"},
                        {"provider": "backup", "model": "gpt-y"},
                    ]
                }
            },
        }
        return nexus_config(routing=yaml.safe_dump(routing))

    async def test_the_series_counts_each_fallback_and_repair(self, jp_fetch: Any, models: Any) -> None:
        primary, backup = models

        async def summary() -> dict[str, Any]:
            return dict(json.loads((await jp_fetch("nexus/api/v1/metrics/summary")).body))

        def totals(summary: dict[str, Any]) -> tuple[int, int]:
            return summary["fallbacks"], summary["repairs"]

        first = await summary()
        since = first["series"][-1]["at"] if first["series"] else ""
        for x_turns, y_turns, route, shown in ANSWERS:
            before = await summary()
            scrape_before = scraped((await jp_fetch("metrics")).body)
            primary.script = [t if isinstance(t, dict) else {"text": t} for t in x_turns]
            backup.script = [{"text": t} for t in y_turns]
            body = json.dumps({"task": "code_generation", "prompt": "Write total(xs).", "max_tokens": 40})
            reply = json.loads((await jp_fetch("nexus/api/v1/generate", method="POST", body=body)).body)
            assert reply["valid"], reply
            assert [f"{s['model']} {s['outcome']}" for s in reply["fallback_path"]] == route

            after = await summary()
            assert minus(counted(after, since), counted(before, since)) == shown, route
            assert minus(totals(after), totals(before)) == shown, route
            assert minus(scraped((await jp_fetch("metrics")).body), scrape_before) == shown, route
