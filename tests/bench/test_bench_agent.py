"""The agent benchmark measures what it claims: NEXUS's own cost per step is within the goals, its
checkers pass when a model reaches the goal and say no when it does not.

The scripted model stands in for a model (no model runs here); the server's services, the notebook
files and the kernels are real.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.bench_modules import load_bench_module

ROOT = Path(__file__).resolve().parents[2]


load_bench_module("agent_tasks", "agent_tasks.py")  # what agent.py imports by plain name
bench = load_bench_module("agent_bench", "agent.py")


def run_in_process(repeats: int = 0) -> dict[str, Any]:
    args = argparse.Namespace(quick=False, repeats=repeats, model=["scripted"], endpoint_model="")
    return dict(asyncio.run(bench.main(args)))


def test_the_benchmark_reports_nexus_cost_per_step_within_the_goals() -> None:
    command = [sys.executable, "bench/agent.py", "--quick", "--model", "scripted", "--repeats", "8"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)

    assert result["benchmark"] == "agent"
    overhead = result["overhead"]
    assert overhead["via"] == "file" and overhead["repeats"] == 8
    assert overhead["turn"]["steps"] == 24 and overhead["turn"]["overhead_per_step_ms"] > 0
    for tool in ("insert_cell", "edit_cell", "run_cell"):
        assert 0 < overhead[tool]["median_ms"] <= overhead[tool]["p95_ms"], tool
        assert 0 < overhead[tool]["tool_handler_median_ms"] <= overhead[tool]["p95_ms"], tool
    run = overhead["run_cell"]
    assert 0 < run["direct"]["median_ms"] < run["median_ms"]
    assert set(result["goals"]) == {
        "edit_cell_median<=50ms",
        "insert_cell_median<=50ms",
        "run_cell_overhead_median<=30ms",
    }

    (model,) = result["models"]
    assert model["model"] == "scripted" and model["chain"] == ["scripted/scripted-model"]
    assert model["passed"] == "2/2" and model["success_rate"] == 1.0
    assert [t["id"] for t in model["tasks"]] == result["tasks"] == [t.id for t in bench.TASKS[:2]]
    assert all(t["success"] and t["state"] == "done" and t["steps"] > 0 for t in model["tasks"])
    # The goals are judged in the JSON (a benchmark's verdict), not asserted here: speed on a shared
    # CI machine is measured by benchmarks, never by timed tests.
    assert all(isinstance(v, bool) for v in result["goals"].values())


def test_every_task_is_reached_by_a_model_that_does_it_right() -> None:
    (model,) = run_in_process()["models"]
    assert {t["id"]: t.get("reason") for t in model["tasks"]} == {t.id: None for t in bench.TASKS}
    assert model["success_rate"] == 1.0


def test_no_task_is_reached_by_a_model_that_does_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    idle = [dataclasses.replace(t, solution=lambda m: {"text": "Done."}) for t in bench.TASKS]
    monkeypatch.setattr(bench, "TASKS", idle)
    (model,) = run_in_process()["models"]
    assert model["success_rate"] == 0.0
    for task in model["tasks"]:
        assert task["steps"] == 0 and task["state"] == "done"
        assert not task["success"] and task["reason"], task
