"""The quality set is sound: its references pass, its errors raise where it says, its tests say no.

No model runs here. The point is that a pass@1 or an error score from ``bench/quality.py``
means what it claims: a task that no correct answer can pass, or that any answer passes, or an
error case that raises somewhere else, would make the benchmark's numbers meaningless.
"""

from __future__ import annotations

import ast
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.support.bench_modules import load_bench_module

ROOT = Path(__file__).resolve().parents[2]


qs = load_bench_module("quality_set", "quality_set.py")
completion_bench = load_bench_module("quality_completion", "quality_completion.py")  # quality.py imports it
TASKS = qs.load_tasks()
CASES = qs.load_error_cases()
BY_ID = {t.id: t for t in TASKS}


def parallel(func: Any, items: list[Any]) -> list[Any]:
    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(func, items))


def stub(task: Any) -> str:
    """An answer that defines the right name and does nothing useful."""
    if task.entry[0].isupper():
        return (
            f"class {task.entry}:\n"
            "    def __init__(self, *args, **kwargs):\n"
            "        pass\n\n"
            "    def __getattr__(self, name):\n"
            "        return lambda *args, **kwargs: None\n"
        )
    return f"def {task.entry}(*args, **kwargs):\n    return None\n"


def test_set_size_and_unique_ids() -> None:
    assert len(TASKS) >= 40
    assert len(CASES) >= 20
    assert len({t.id for t in TASKS}) == len(TASKS)
    assert len({c.id for c in CASES}) == len(CASES)


def test_tasks_are_varied_and_say_what_the_tests_call() -> None:
    assert {t.category for t in TASKS} == set(qs.CATEGORIES)
    for task in TASKS:
        assert f"`{task.entry}" in task.request, f"{task.id}: the request must name {task.entry}"
        assert re.search(r"^def test_", task.tests, re.MULTILINE), f"{task.id} has no test_ function"
        ast.parse(task.reference)
        ast.parse(task.tests)


def test_error_cases_cover_the_common_exceptions() -> None:
    wanted = {
        "IndexError",
        "KeyError",
        "ZeroDivisionError",
        "NameError",
        "TypeError",
        "AttributeError",
        "ValueError",
        "ModuleNotFoundError",
        "FileNotFoundError",
        "RecursionError",
    }
    assert wanted <= {c.exception for c in CASES}
    for case in CASES:
        assert case.keywords and all(case.keywords), f"{case.id}: empty keyword group"
        assert case.line_text, f"{case.id}: line {case.line} is blank"


def test_every_reference_passes_its_own_tests() -> None:
    outcomes = parallel(lambda t: qs.run_hidden_tests(t, t.reference), TASKS)
    failed = {t.id: o.as_dict() for t, o in zip(TASKS, outcomes, strict=True) if not o.passed}
    assert failed == {}


def test_every_task_rejects_an_answer_that_does_nothing() -> None:
    outcomes = parallel(lambda t: qs.run_hidden_tests(t, stub(t)), TASKS)
    accepted = [t.id for t, o in zip(TASKS, outcomes, strict=True) if o.passed]
    assert accepted == []


@pytest.mark.parametrize(
    ("task_id", "wrong"),
    [
        ("is_palindrome", "def is_palindrome(s):\n    return s == s[::-1]\n"),  # case and spaces count
        ("is_prime", "def is_prime(n):\n    return all(n % i for i in range(2, n))\n"),  # 0 and 1
        (
            "fizzbuzz",
            "def fizzbuzz(n):\n    return ['Fizz' if i % 3 == 0 else str(i) for i in range(1, n + 1)]\n",
        ),
        ("rotate_right", "def rotate_right(items, k):\n    return items[-k:] + items[:-k]\n"),  # k > len
        ("second_largest", "def second_largest(nums):\n    return sorted(nums)[-2]\n"),  # duplicates
    ],
)
def test_a_subtly_wrong_answer_fails(task_id: str, wrong: str) -> None:
    outcome = qs.run_hidden_tests(BY_ID[task_id], wrong)
    assert not outcome.passed
    assert any(v != "passed" for v in outcome.tests.values())


def test_broken_answers_fail_without_touching_the_harness() -> None:
    task = BY_ID["gcd"]
    assert qs.run_hidden_tests(task, "").error == "no code"
    looping = qs.run_hidden_tests(task, "def gcd(a, b):\n    while True:\n        pass\n", timeout=2)
    assert not looping.passed and "timed out" in (looping.error or "")
    leaving = qs.run_hidden_tests(task, "import sys\nsys.exit(0)\n")
    assert not leaving.passed and "SystemExit" in (leaving.error or "")
    syntax = qs.run_hidden_tests(task, "def gcd(a, b)\n    return a\n")
    assert not syntax.passed and "SyntaxError" in (syntax.error or "")
    assert [o.kind for o in (looping, leaving, syntax)] == ["timed out", "answer raised", "answer raised"]
    wrong = qs.run_hidden_tests(task, "def gcd(a, b):\n    return 1\n")
    assert wrong.kind == "tests failed"
    assert wrong.tests["test_gcd"] == "AssertionError: assert gcd(12, 18) == 6"  # the failing line


def test_an_answer_copied_from_the_prompt_is_recognised() -> None:
    prompt = (
        "## Current cell (code)\nx = [4, 8, 15]\nprint(x[10])\n# output:\nIndexError: list index out of range"
    )
    assert qs.echo_share("print(x[10])\n# output:\nIndexError: list index out of range", prompt) == 1.0
    assert qs.echo_share("x has 3 items, so index 10 does not exist.", prompt) == 0.0


@pytest.fixture(scope="module")
def captured() -> list[Any]:
    return parallel(qs.capture_error, CASES)


def test_every_error_case_raises_exactly_as_declared(captured: list[Any]) -> None:
    wrong = {
        c.id: (got.exception, got.line)
        for c, got in zip(CASES, captured, strict=True)
        if (got.exception, got.line) != (c.exception, c.line)
    }
    assert wrong == {}
    assert all(c.exception in got.traceback for c, got in zip(CASES, captured, strict=True))


def test_repeating_the_cell_and_its_traceback_does_not_name_the_cause(captured: list[Any]) -> None:
    echoed = []
    for case, got in zip(CASES, captured, strict=True):
        echo = "\n".join(
            [case.code, got.traceback, got.kernel_state.get("error") or "", f"{got.exception}: {got.message}"]
        )
        if qs.names_cause(case, echo):
            echoed.append(case.id)
    assert echoed == []


def test_the_scorer_accepts_the_written_cause_and_rejects_vague_answers() -> None:
    vague = "There is an error in your code. Check the code and try again."
    for case in CASES:
        written = f"{case.exception} on line {case.line}: {case.cause}"
        assert qs.names_error_and_line(case, written), case.id
        assert qs.names_cause(case, written), case.id
        assert not qs.names_error_and_line(case, vague), case.id
        assert not qs.names_cause(case, vague), case.id
        # the type alone, or the line alone, is not enough
        assert not qs.names_error_and_line(case, f"A {case.exception} happened."), case.id
        assert not qs.names_error_and_line(case, f"It failed at `{case.line_text}`."), case.id


def test_the_benchmark_sends_what_nexus_sends() -> None:
    bench = load_bench_module("quality", "quality.py")
    from nexus_server_ext.ai.prompts import system_prompt

    task = BY_ID["is_prime"]
    system, user = bench.generation_messages(task)
    assert system.content == system_prompt("generate")
    assert user.content == task.request

    case = next(c for c in CASES if c.id == "index_out_of_range")
    captured = qs.capture_error(case)
    without = bench.error_messages(case, captured, None)
    assert "Last error in the kernel" in without[0].content and "print(x[10])" in without[0].content
    assert "Facts about the error" not in without[0].content
    assert without[-1].content == bench.QUESTION
    facts = bench.error_facts(captured)
    if facts is not None:  # NEXUS with error_facts: the model is told them
        told = bench.error_messages(case, captured, facts)
        assert facts.prompt_text() in told[0].content
        assert facts.lineno == case.line


def test_a_saved_run_can_be_judged_again_without_a_model() -> None:
    bench = load_bench_module("quality", "quality.py")
    tasks, cases = TASKS[:2], CASES[:1]
    case = cases[0]
    answer = {"text": f"{case.exception} on line {case.line}: {case.cause}", "echo": 0.0}
    saved = {
        "summary": {"models": [{"model": "m"}]},
        "models": [
            {
                "tasks": [
                    {"id": tasks[0].id, "category": tasks[0].category, "code": tasks[0].reference},
                    {"id": tasks[1].id, "category": tasks[1].category, "code": "x = 1\n"},
                ],
                "errors": [
                    {"id": case.id, **{k: dict(answer) for k in ("without_facts", "with_facts", "final")}}
                ],
            }
        ],
    }
    model = bench.rescore(saved, tasks, cases)["models"][0]
    assert model["passed"] == "1/2"
    assert model["outcomes"] == {"passed": 1, "tests failed": 1}
    assert model["errors"]["model_answer_without_facts"] == {"names_error_and_line": 1.0, "names_cause": 1.0}


# -- inline completion (bench/quality/completion.yaml) ---------------------------------------------
COMPLETIONS = qs.load_completion_cases()


def test_the_completion_set_is_varied_and_ids_are_unique() -> None:
    assert len(COMPLETIONS) >= 30
    assert len({c.id for c in COMPLETIONS}) == len(COMPLETIONS)
    assert {c.kind for c in COMPLETIONS} == set(qs.COMPLETION_KINDS)
    assert sum(1 for c in COMPLETIONS if c.context) >= 5  # the DataFrame is defined in an earlier cell
    for case in COMPLETIONS:
        assert re.search(r"^def test_", case.tests, re.MULTILINE), f"{case.id} has no test_ function"
        ast.parse(case.tests)
        ast.parse(case.cell(case.reference))
        on_its_line = case.prefix.rsplit("\n", 1)[-1].strip() != ""
        assert (case.kind == "block") is not on_its_line, f"{case.id}: kind {case.kind}"
        assert (case.kind == "fill") == bool(case.suffix.strip()), case.id


def test_every_reference_completion_is_right() -> None:
    outcomes = parallel(lambda c: qs.judge_completion(c, c.reference), COMPLETIONS)
    failed = {c.id: o.as_dict() for c, o in zip(COMPLETIONS, outcomes, strict=True) if not o.passed}
    assert failed == {}


def test_silence_and_a_wrong_completion_are_never_right() -> None:
    assert all(qs.judge_completion(c, "").error == "no code" for c in COMPLETIONS)
    # the cell as typed, with nothing accepted, does not pass either (the tests need the completion)
    untouched = parallel(lambda c: qs.run_tests(c.tests, c.cell("")), COMPLETIONS)
    assert [c.id for c, o in zip(COMPLETIONS, untouched, strict=True) if o.passed] == []
    wrong = parallel(lambda c: qs.judge_completion(c, "None"), COMPLETIONS)
    assert [c.id for c, o in zip(COMPLETIONS, wrong, strict=True) if o.passed] == []


@pytest.mark.parametrize(
    ("case_id", "wrong"),
    [
        ("is_even", "n % 2 == 1"),
        ("list_mean", "sum(scores) // 3 + 1"),
        ("dict_invert", "dict(ages)"),
        ("pandas_groupby_mean", "max()"),  # what the bundled model wrote: right shape, wrong answer
        ("fill_max_call", "nums)"),  # runs into the suffix: `max(nums))` is a SyntaxError
        ("count_words_body", "return len(text)"),
    ],
)
def test_a_subtly_wrong_completion_fails(case_id: str, wrong: str) -> None:
    case = next(c for c in COMPLETIONS if c.id == case_id)
    assert not qs.judge_completion(case, wrong).passed


def test_the_completion_benchmark_reads_the_gate_as_the_pipeline_does() -> None:
    bench = completion_bench
    rows = [
        {"completion": "a", "confidence": 0.9, "right": True, "ms": 100.0},
        {"completion": "b", "confidence": 0.5, "right": False, "ms": 200.0},
        {"completion": "c", "confidence": 0.3, "right": True, "ms": 300.0},
        {"completion": "", "confidence": None, "right": False, "ms": 50.0},
    ]
    curve = bench.threshold_curve(rows)
    assert [(p["threshold"], p["shown"], p["right"]) for p in curve] == [
        (0.3, 3, 2),
        (0.5, 2, 1),
        (0.9, 1, 1),
    ]
    assert bench.measured_threshold(curve, 0.8) == 0.9 and bench.measured_threshold(curve, 0.6) == 0.3
    assert bench.model_label("bundled:SmolLM2-135M-Instruct") == "SmolLM2-135M-Instruct"
    assert bench.shipped_gate().threshold("SmolLM2-135M-Instruct") == 0.4
