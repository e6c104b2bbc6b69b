"""The magics in a real kernel with no Jupyter server: the bundled model runs inside the kernel."""

from __future__ import annotations

import ast
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jupyter_client.manager import KernelManager
from kernel_helpers import fast_routing_file, run_cell

from nexus_kernel.transport import prompt_hash


@pytest.fixture(scope="module")
def kernel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    folder = tmp_path_factory.mktemp("inprocess")
    env = {
        **os.environ,
        "NEXUS_TRANSPORT": "in-process",
        "NEXUS_ROUTING_FILE": str(fast_routing_file(folder)),
        "NEXUS_SERVER_URL": "",
    }
    km = KernelManager(kernel_name="python3")
    km.start_kernel(env=env, cwd=str(folder))
    kc = km.client()
    kc.start_channels()
    kc.wait_for_ready(timeout=60)
    assert run_cell(kc, "%load_ext nexus_kernel").status == "ok"
    yield kc
    kc.stop_channels()
    km.shutdown_kernel(now=True)


def test_generate_puts_parsable_code_in_the_next_cell(kernel: Any) -> None:
    run = run_cell(kernel, "%%nexus generate\nWrite a Python function add(a, b) that returns a + b.")
    assert run.status == "ok" and not run.errors and not run.stderr, run.text()
    [next_cell] = [p for p in run.payload if p.get("source") == "set_next_input"]
    code = next_cell["text"]
    ast.parse(code)  # the next cell holds code that parses
    assert "def " in code or "add" in code
    meta = run.nexus_meta()
    assert meta["model"] == "SmolLM2-135M-Instruct" and meta["provider"] == "local"
    assert meta["transport"] == "in-process" and meta["latency_ms"] > 0
    assert len(meta["prompt_hash"]) == 16
    # generate never runs the code: the function is not defined in the kernel
    assert "NameError" in run_cell(kernel, "add").errors[0]["ename"]


def test_fix_after_a_real_zero_division_error_mentions_the_failing_line(kernel: Any) -> None:
    failing = run_cell(kernel, "total = 10\ncount = 0\nmean = total / count\n")
    assert failing.errors and failing.errors[0]["ename"] == "ZeroDivisionError"
    run = run_cell(kernel, "%nexus fix --max-tokens 48")
    assert run.status == "ok" and not run.errors and not run.stderr, run.text()
    shown = run.outputs[-1]["data"]["text/markdown"]
    assert "mean = total / count" in shown and "ZeroDivisionError" in shown
    answer = shown.split("`mean = total / count`", 1)[1].split("<sub>")[0]
    assert len(answer.strip()) > 10, shown  # the model's proposal follows the failing line
    assert run.nexus_meta()["task"] == "code_analysis"


def test_ask_streams_and_interpolates_variables(kernel: Any) -> None:
    run_cell(kernel, "lib = 'numpy'")
    run = run_cell(kernel, '%nexus ask "In one sentence, what is {lib} used for?"')
    assert run.status == "ok" and not run.errors and not run.stderr, run.text()
    assert run.updates >= 2  # the output grew while the model was generating
    meta = run.nexus_meta()
    asked = "In one sentence, what is numpy used for?"
    assert meta["prompt_hash"] == prompt_hash("natural_language", asked, {})
    assert run.outputs[-1]["data"]["text/plain"].strip()
    history = run_cell(kernel, "%nexus history")
    assert asked in history.stdout


def test_errors_are_one_readable_line(kernel: Any) -> None:
    for cell, expected in [
        ('%nexus ask "what is {nothing_here}?"', "{nothing_here} is not defined in this notebook"),
        ("%%nexus generate --format pdf\nhello", "argument --format: invalid choice: 'pdf'"),
        ("%nexus ask", "ask needs a prompt"),
        ("%nexus feedback sideways", "usage: %nexus feedback up|down"),
        ("%nexus ask --model gpt-17 hi", "unknown model 'gpt-17'"),
        ("%nexus learn /no/such/folder", "/no/such/folder: no such file or folder"),
    ]:
        run = run_cell(kernel, cell)
        assert run.status == "ok" and not run.errors, (cell, run.errors)
        assert run.stderr.startswith("nexus: ") and run.stderr.count("\n") == 1, (cell, run.stderr)
        assert expected in run.stderr, (cell, run.stderr)


def test_models_status_feedback_and_clear(kernel: Any) -> None:
    models = run_cell(kernel, "%nexus models")
    tasks = {t["task"]: t for t in models.nexus_meta()["tasks"]}
    assert tasks["code_generation"]["chain"][-1]["state"] == "usable"
    assert "local/SmolLM2-135M-Instruct: usable" in models.outputs[-1]["data"]["text/markdown"]
    status = run_cell(kernel, "%nexus status")
    assert "answers come from in-process" in status.stdout
    rated = run_cell(kernel, "%nexus feedback up")
    assert "rated up" in rated.stdout
    assert "[up]" in run_cell(kernel, "%nexus history").stdout
    run_cell(kernel, "%nexus clear")
    assert "No questions yet" in run_cell(kernel, "%nexus history").stdout


def test_learn_then_search_finds_the_right_file(kernel: Any, tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "billing.md").write_text("Invoices are sent on the first day of each month by the billing job.\n")
    (docs / "weather.py").write_text("def forecast(city):\n    return 'rain tomorrow in ' + city\n")
    learned = run_cell(kernel, f"%nexus learn {docs}")
    assert "Learned 2 chunks from 2 files" in learned.stdout, learned.text()
    found = run_cell(kernel, "hits = %nexus search \"when are invoices sent?\"\nhits[0]['source']")
    assert found.outputs[-1]["data"]["text/plain"].endswith("billing.md'")
