"""Inline completion, right or silent: the model alone vs NEXUS on ``bench/quality/completion.yaml``.

For each model, every case is completed twice at temperature 0:

- **model alone**: the local engine continues today's prompt (the cell up to the cursor, the
  engine's default repetition penalty, stop at a blank line) and the text it writes is shown as it is;
- **NEXUS**: ``AIPipeline.complete`` as the server runs it (the earlier cells, the trailing space taken
  off, the model's fill-in-the-middle template where it has one, the clean-up), with the gate off so
  that every suggestion's confidence is known; the gate is then applied to those confidences exactly
  as the pipeline applies it (``CompletionGate.shows``).

Each suggestion shown is judged by running the cell's earlier cells, prefix, suggestion and suffix, then
the case's hidden tests, in a child process (``quality_set.judge_completion``). Reported per model:
``shown``, ``right``, ``precision`` (right among shown) and the p50/p90 latency, for the model alone,
NEXUS without the gate and NEXUS with the gate at the routing file's threshold for the model; and the
threshold curve: for every confidence seen, what a gate there would show and how much of it is right,
with the lowest threshold whose precision reaches ``TARGET_PRECISION`` (``measured``), which is how the
shipped thresholds were chosen. The set is small and the threshold is chosen on it: an in-sample number,
to be checked on new cases.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

from quality_set import CompletionCase, judge_completion

from nexus_server_ext.ai.completion import CompletionGate
from nexus_server_ext.ai.engines.sources import BUNDLED_PREFIX
from nexus_server_ext.ai.routing import load_routing, parse_routing
from nexus_server_ext.ai.types import Delta, GenerationRequest

TARGET_PRECISION = 0.8
MAX_TOKENS = 48  # the shipped routing file's completion limit
ALONE_STOP = ["\n\n"]  # what the completion path stopped at before NEXUS's own prompt


def model_label(source: str) -> str:
    """The chain-step name a routing file gives the model (what the gate's thresholds are keyed by)."""
    if source.startswith(BUNDLED_PREFIX):
        return source[len(BUNDLED_PREFIX) :]
    return Path(source).stem or source


def completion_routing(source: str, backend: str) -> Any:
    """A routing file with the model as the whole completion chain, and the gate off."""
    raw = {
        "providers": {"local": {"kind": "local", "model": source, "backend": backend, "device": "cpu"}},
        "tasks": {
            "completion": {
                "chain": [{"provider": "local", "model": model_label(source)}],
                "limits": {"timeout_s": 60, "max_tokens": MAX_TOKENS},
                "gate": {"enabled": False},
            }
        },
    }
    return parse_routing(raw, Path("bench-completion-routing.yaml"))


def shipped_gate() -> CompletionGate:
    """The gate of the shipped routing file (``models/routing.yaml``)."""
    return load_routing().completion_gate()


async def alone(engine: Any, case: CompletionCase) -> dict[str, Any]:
    """The model alone: the cell up to the cursor continued, its text shown as written."""
    request = GenerationRequest(prompt=case.prefix, max_tokens=MAX_TOKENS, stop=list(ALONE_STOP))
    started = time.perf_counter()
    parts = [item.text async for item in engine.stream(request) if isinstance(item, Delta)]
    text = "".join(parts)
    return {"completion": text, "ms": (time.perf_counter() - started) * 1000}


async def nexus(pipeline: Any, case: CompletionCase) -> dict[str, Any]:
    started = time.perf_counter()
    result = await pipeline.complete(
        case.prefix, case.suffix, cells=list(case.context), max_tokens=MAX_TOKENS
    )
    return {
        "completion": result.completion,
        "confidence": result.confidence,
        "ms": (time.perf_counter() - started) * 1000,
    }


def score(rows: list[dict[str, Any]], shown: list[bool]) -> dict[str, Any]:
    """shown / right / precision and latency of one way of completing."""
    right = sum(1 for r, s in zip(rows, shown, strict=True) if s and r["right"])
    count = sum(shown)
    times = sorted(r["ms"] for r in rows)
    return {
        "shown": count,
        "right": right,
        "precision": round(right / count, 3) if count else None,
        "p50_ms": round(statistics.median(times)) if times else None,
        "p90_ms": round(times[min(len(times) - 1, int(0.9 * len(times)))]) if times else None,
    }


def threshold_curve(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """For each confidence seen (a gate just at it): what would be shown and how much of it is right."""
    curve = []
    for cut in sorted({r["confidence"] for r in rows if r["completion"] and r["confidence"] is not None}):
        shown = [bool(r["completion"]) and (r["confidence"] or 0.0) >= cut for r in rows]
        curve.append({"threshold": round(cut, 4), **score(rows, shown)})
    return curve


def measured_threshold(curve: list[dict[str, Any]], target: float = TARGET_PRECISION) -> float | None:
    """The lowest threshold whose precision reaches ``target`` (the most right answers at that precision);
    None when no threshold reaches it."""
    good = [p for p in curve if p["precision"] is not None and p["precision"] >= target]
    return min(p["threshold"] for p in good) if good else None


async def measure_completion(
    source: str, backend: str, cases: list[CompletionCase], open_engine: Any
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """One model on the completion set: (summary, one row per case)."""
    from nexus_server_ext.ai.pipeline import AIPipeline
    from nexus_server_ext.ai.router import ModelRouter

    engine, used = open_engine(source, backend)
    await engine.ensure_loaded()
    pipeline = AIPipeline(ModelRouter(completion_routing(source, used)))
    await pipeline.complete("x = ", max_tokens=4)  # warm-up, not counted
    rows = []
    for case in cases:
        by_model = await alone(engine, case)
        by_nexus = await nexus(pipeline, case)
        by_model["right"] = judge_completion(case, by_model["completion"]).passed
        by_nexus["right"] = judge_completion(case, by_nexus["completion"]).passed
        rows.append({"id": case.id, "kind": case.kind, "model_alone": by_model, "nexus": by_nexus})
    label = model_label(source)
    gate = shipped_gate()
    gated = CompletionGate(True, gate.min_confidence, gate.models)
    model_rows = [r["model_alone"] for r in rows]
    nexus_rows = [r["nexus"] for r in rows]
    curve = threshold_curve(nexus_rows)
    summary = {
        "model": source,
        "label": label,
        "backend": used,
        "fim": getattr(engine, "fim", None) and engine.fim.family,
        "cases": len(cases),
        "model_alone": score(model_rows, [bool(r["completion"].strip()) for r in model_rows]),
        "nexus_without_gate": score(nexus_rows, [bool(r["completion"]) for r in nexus_rows]),
        "nexus": {
            "threshold": gate.threshold(label),
            **score(
                nexus_rows,
                [bool(r["completion"]) and gated.shows(label, r["confidence"]) for r in nexus_rows],
            ),
        },
        "threshold": {
            "shipped": gate.threshold(label),
            "measured": measured_threshold(curve),
            "target_precision": TARGET_PRECISION,
            "curve": curve,
        },
    }
    return summary, rows


def completion_baseline(cases: list[CompletionCase]) -> dict[str, Any]:
    """The set proves itself: every reference completion passes, and silence is never right."""
    failing = [c.id for c in cases if not judge_completion(c, c.reference).passed]
    silent = [c.id for c in cases if judge_completion(c, "").passed]
    return {"cases": len(cases), "reference_failures": failing, "silence_passes": silent}


def completion_report(
    models: list[str], backend: str, limit: int, details: Path | None, open_engine: Any
) -> int:
    """``quality.py --completion``: print the report; the exit status is 1 when the set is unsound."""
    import asyncio
    import json
    import os

    from quality_set import load_completion_cases

    cases = load_completion_cases()[: limit or None]
    out: dict[str, Any] = {
        "set": "bench/quality/completion.yaml",
        "baseline": completion_baseline(cases),
        "cpu_count": os.cpu_count(),
        "models": [],
    }
    rows = {}
    for source in models:
        summary, rows[source] = asyncio.run(measure_completion(source, backend, cases, open_engine))
        out["models"].append(summary)
    if details:
        details.write_text(json.dumps({"summary": out, "cases": rows}, indent=1))
    print(json.dumps(out, indent=2))
    baseline = out["baseline"]
    return 1 if baseline["reference_failures"] or baseline["silence_passes"] else 0
