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


def answer_after_facts(kernel: Any, failing_cell: str, magic: str) -> tuple[str, str, str, str]:
    """Run a failing cell, then ``magic``: the facts shown first, the final output, the model's words
    and the task that answered."""
    failing = run_cell(kernel, failing_cell)
    assert failing.errors, failing.text()
    run = run_cell(kernel, magic)
    assert run.status == "ok" and not run.errors and not run.stderr, run.text()
    first = run.first_shown["text/markdown"]
    shown = run.outputs[-1]["data"]["text/markdown"]
    facts = first.removesuffix(" ▍").rstrip()  # before the model's first token: the facts alone
    assert shown.startswith(facts + "\n\n"), (first, shown)
    model_words = shown[len(facts) :].split("<sub>")[0].strip()
    return facts, shown, model_words, run.nexus_meta()["task"]


def test_explain_after_an_index_error_shows_the_facts_then_the_model(kernel: Any) -> None:
    run_cell(kernel, "x = [1, 2, 3]")
    facts, shown, words, task = answer_after_facts(kernel, "x[10]", "%nexus explain --max-tokens 24")
    assert facts.startswith("**IndexError**: list index out of range - line 1: `x[10]`"), facts
    assert "`x` has 3 items (valid indexes 0-2 or -3 to -1); index 10 is out of range" in facts
    assert "`x` (list, len 3) = `[1, 2, 3]`" in facts
    assert len(words) > 10, shown  # the model's explanation follows the facts
    assert task == "code_analysis"
    # asked again, it is still about the error; after a cell that succeeds, it explains that cell's code
    again = run_cell(kernel, "%nexus explain --max-tokens 8")
    assert again.outputs[-1]["data"]["text/markdown"].startswith("**IndexError**")
    run_cell(kernel, "y = len(x)")
    code = run_cell(kernel, "%nexus explain --max-tokens 8")
    assert "IndexError" not in code.outputs[-1]["data"]["text/markdown"], code.text()


def test_fix_after_a_key_error_lists_the_keys(kernel: Any) -> None:
    run_cell(kernel, "prices = {'apple': 1.2, 'pear': 0.8}")
    facts, shown, words, _ = answer_after_facts(
        kernel, "cost = prices['cherry'] * 3", "%nexus fix --max-tokens 24"
    )
    assert facts.startswith("**KeyError**: 'cherry' - line 1: `cost = prices['cherry'] * 3`"), facts
    assert "key 'cherry' is not in `prices`; its keys are: 'apple', 'pear'" in facts
    assert len(words) > 10, shown


def test_fix_of_a_key_that_differs_in_case_is_computed_checked_and_put_in_the_next_cell(kernel: Any) -> None:
    run_cell(kernel, "prices = {'apple': 1.2, 'pear': 0.8}")
    assert run_cell(kernel, "cost = prices['Apple'] * 3").errors
    run = run_cell(kernel, "%nexus fix")
    shown = run.outputs[-1]["data"]["text/markdown"]
    assert (
        "**Checked:** the fixed cell runs without error in a separate process with copies of `prices`"
        in shown
    )
    fixed = [p["text"] for p in run.payload if p.get("source") == "set_next_input"]
    assert fixed == ["cost = prices['apple'] * 3\n"]
    assert run_cell(kernel, "'cost' in globals()").outputs[-1]["data"]["text/plain"] == "False"  # not run


def test_fix_after_a_real_zero_division_error_names_the_divisor(kernel: Any) -> None:
    facts, shown, words, task = answer_after_facts(
        kernel, "total = 10\ncount = 0\nmean = total / count\n", "%nexus fix --max-tokens 24"
    )
    assert facts.startswith("**ZeroDivisionError**: division by zero - line 3: `mean = total / count`")
    assert "Cause: the divisor `count` is 0." in facts
    assert "`count` (int) = `0`" in facts
    assert len(words) > 10, shown  # the model's proposal follows the facts
    assert task == "code_analysis"


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
    # a progress bar in the notebook: shown as learning starts, updated in place to done
    first = learned.first_shown
    assert "<progress" in first["text/html"] and "Learning " in first["text/plain"]
    assert learned.updates >= 1
    bar = learned.outputs[0]["data"]
    assert 'data-state="done"' in bar["text/html"] and "] done" in bar["text/plain"]
    found = run_cell(kernel, "hits = %nexus search \"when are invoices sent?\"\nhits[0]['source']")
    assert found.outputs[-1]["data"]["text/plain"].endswith("billing.md'")


def test_fix_of_a_misspelt_name_is_computed_and_put_in_the_next_cell(kernel: Any) -> None:
    """The facts settle it (`heigth` is a near-miss of the parameter `height`): no model, no guess."""
    cell = "def area(width, height):\n    return width * heigth\n\narea(2, 3)"
    assert run_cell(kernel, cell).status == "error"
    run = run_cell(kernel, "%nexus fix")
    assert run.status == "ok" and not run.errors, run.text()
    shown = run.text().strip()
    assert shown.startswith("**NameError**") and "renamed `heigth` to `height` on line 2" in shown
    assert "no model" in shown
    fixed = [p["text"] for p in run.payload if p.get("source") == "set_next_input"]
    assert fixed == [cell.replace("heigth", "height") + "\n"]
    assert run_cell(kernel, fixed[0]).status == "ok"  # the fixed cell runs


def test_answers_carry_an_interaction_id_that_feedback_and_history_name(kernel: Any) -> None:
    """No server records them, so the kernel's own log does: ids count up, ratings stay with the answer."""
    first = run_cell(kernel, '%nexus ask --max-tokens 4 "Say hi."').nexus_meta()
    second = run_cell(kernel, '%nexus ask --max-tokens 4 "Say bye."').nexus_meta()
    assert (
        isinstance(first["interaction_id"], int) and second["interaction_id"] == first["interaction_id"] + 1
    )
    rated = run_cell(kernel, "%nexus feedback down").stdout
    assert f"answer #{second['interaction_id']}" in rated, rated
    shown = run_cell(kernel, "%nexus history").stdout
    assert f"(interaction {second['interaction_id']}) [down]" in shown, shown
    kept = "from nexus_kernel.discovery import shared_transport\n"
    kept += f"r = shared_transport().interactions.get({second['interaction_id']})\nprint(r.task, r.feedback)"
    assert run_cell(kernel, kept).stdout.strip() == "natural_language down"
