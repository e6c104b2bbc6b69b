"""The NEXUS quality set: loading its tasks, error cases and completion cases, and judging answers.

The data lives in ``bench/quality/`` (``generation.yaml``, ``errors.yaml``, ``completion.yaml``); what
an answer or an inline completion is worth is decided here, without a model, so the same rules serve
the benchmark (``bench/quality.py``) and the tests that prove the set itself is sound. Code under test runs
in a child process (``quality_sandbox.py``) with a timeout: a model's answer can loop, exit or
eat memory without touching the harness.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
DATA = HERE / "quality"
SANDBOX = HERE / "quality_sandbox.py"
CATEGORIES = (
    "strings",
    "lists",
    "dicts",
    "math",
    "dates",
    "regex",
    "wrangling",
    "recursion",
    "classes",
    "errors",
)


@dataclass(frozen=True)
class Task:
    """A code-generation request, the name the tests call, hidden tests and a reference answer."""

    id: str
    category: str
    request: str
    entry: str
    signature: str
    reference: str
    tests: str


@dataclass(frozen=True)
class ErrorCase:
    """A cell that raises, where it raises, and the words that show an answer found the cause."""

    id: str
    code: str
    exception: str
    line: int
    key: tuple[str, ...]
    cause: str
    keywords: tuple[tuple[str, ...], ...]

    @property
    def line_text(self) -> str:
        return self.code.splitlines()[self.line - 1].strip()


@dataclass
class TestOutcome:
    """What happened when hidden tests ran against one answer."""

    passed: bool
    tests: dict[str, str] = field(default_factory=dict)
    error: str | None = None

    @property
    def kind(self) -> str:
        """passed | no code | answer raised | timed out | no result | tests failed."""
        if self.passed:
            return "passed"
        error = self.error or ""
        for prefix, kind in (
            ("no code", "no code"),
            ("the answer raised", "answer raised"),
            ("timed out", "timed out"),
            ("the process exited", "no result"),
        ):
            if error.startswith(prefix):
                return kind
        return "tests failed"

    def as_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "kind": self.kind, "tests": self.tests, "error": self.error}


@dataclass
class CapturedError:
    """A cell's real exception, as the user's notebook shows it."""

    exception: str | None
    message: str = ""
    line: int | None = None
    traceback: str = ""  # as the notebook shows it (IPython's format)
    format: str = ""
    # what NEXUS's kernel inspection reports: variables, names, the last error (Python's format), ...
    kernel_state: dict[str, Any] = field(default_factory=dict)


def load_tasks(path: Path = DATA / "generation.yaml") -> list[Task]:
    return [Task(**{k: str(v) for k, v in item.items()}) for item in yaml.safe_load(path.read_text())]


def load_error_cases(path: Path = DATA / "errors.yaml") -> list[ErrorCase]:
    cases = []
    for item in yaml.safe_load(path.read_text()):
        groups = tuple(
            (group,) if isinstance(group, str) else tuple(str(w) for w in group) for group in item["keywords"]
        )
        cases.append(
            ErrorCase(
                id=item["id"],
                code=item["code"],
                exception=item["exception"],
                line=int(item["line"]),
                key=tuple(item["key"]),
                cause=item["cause"],
                keywords=groups,
            )
        )
    return cases


def _sandbox(mode: str, files: dict[str, str], timeout: float) -> tuple[dict[str, Any] | None, str]:
    """Run the sandbox in a fresh folder; (its result or None, why there is none)."""
    with tempfile.TemporaryDirectory(prefix="nexus-quality-") as folder:
        for name, text in files.items():
            Path(folder, name).write_text(text)
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
        env["PYTHONHASHSEED"] = "0"
        proc = subprocess.Popen(
            [sys.executable, "-I", str(SANDBOX), mode, folder],
            cwd=folder,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # so a timeout can end whatever the code started
        )
        try:
            output, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            return None, f"timed out after {timeout:g} s"
        result = Path(folder, "result.json")
        if not result.exists():
            tail = output.decode(errors="replace").strip()[-300:]
            return None, f"the process exited ({proc.returncode}) without a result: {tail}"
        return json.loads(result.read_text()), ""


def run_hidden_tests(task: Task, code: str, timeout: float = 10.0) -> TestOutcome:
    """Run ``task``'s hidden tests against ``code`` (an answer) in a child process."""
    return run_tests(task.tests, code, timeout)


def run_tests(tests: str, code: str, timeout: float = 10.0) -> TestOutcome:
    """Run ``tests`` (``test_*`` functions) against ``code`` in a child process."""
    if not code.strip():
        return TestOutcome(False, error="no code")
    result, why = _sandbox("tests", {"solution.py": code, "hidden_tests.py": tests}, timeout)
    if result is None:
        return TestOutcome(False, error=why)
    tests = result["tests"]
    passed = result["error"] is None and bool(tests) and all(v == "passed" for v in tests.values())
    return TestOutcome(passed, tests, result["error"])


def capture_error(case: ErrorCase, timeout: float = 30.0) -> CapturedError:
    """Run the case's cell in a child process and return the exception it really raised."""
    result, why = _sandbox("error", {"cell.py": case.code}, timeout)
    if result is None:
        raise RuntimeError(f"error case {case.id}: {why}")
    return CapturedError(**result)


# -- scoring explanations -------------------------------------------------------------------------


def normalise(text: str) -> str:
    """Lower case, no backticks or quotes, single spaces: wording differences that do not matter."""
    text = re.sub(r"[`'\"\u2018\u2019\u201c\u201d]", "", text.lower())
    return re.sub(r"\s+", " ", text)


def names_error_and_line(case: ErrorCase, answer: str) -> bool:
    """The answer names the exception type and the failing line (its text, a key expression or "line N")."""
    if case.exception.lower() not in answer.lower():
        return False
    said = normalise(answer)
    spots = [case.line_text, *case.key]
    if any(normalise(s) in said for s in spots):
        return True
    return re.search(rf"\bline {case.line}\b", said) is not None


def echo_share(answer: str, prompt: str) -> float:
    """The share of the answer's lines that are copied from the prompt (small models often echo it).

    An echo can name the error and its line without explaining anything, so the benchmark reports
    how many answers are mostly echo next to the scores.
    """
    lines = [line.strip() for line in answer.splitlines() if len(line.strip()) >= 8]
    if not lines:
        return 0.0
    return sum(line in prompt for line in lines) / len(lines)


def names_cause(case: ErrorCase, answer: str) -> bool:
    """Every keyword group of the case has at least one of its words in the answer."""
    said = normalise(answer)
    return all(any(normalise(word) in said for word in group) for group in case.keywords)


# -- inline completion ----------------------------------------------------------------------------

COMPLETION_KINDS = ("line", "block", "fill")


@dataclass(frozen=True)
class CompletionCase:
    """The text around the cursor as a user types it, the notebook's earlier cells, and hidden tests."""

    id: str
    kind: str
    prefix: str
    reference: str
    tests: str
    suffix: str = ""
    context: tuple[str, ...] = ()

    def cell(self, completion: str) -> str:
        """The code that runs when ``completion`` is accepted: the earlier cells, then the whole cell."""
        earlier = "".join(f"{c.rstrip()}\n\n" for c in self.context)
        return f"{earlier}{self.prefix}{completion}{self.suffix}\n"


def load_completion_cases(path: Path = DATA / "completion.yaml") -> list[CompletionCase]:
    cases = []
    for item in yaml.safe_load(path.read_text()):
        cases.append(
            CompletionCase(
                id=str(item["id"]),
                kind=str(item["kind"]),
                prefix=str(item["prefix"]),
                reference=str(item["reference"]),
                tests=str(item["tests"]),
                suffix=str(item.get("suffix") or ""),
                context=tuple(str(c) for c in item.get("context") or ()),
            )
        )
    return cases


def judge_completion(case: CompletionCase, completion: str, timeout: float = 10.0) -> TestOutcome:
    """Whether ``completion``, accepted at the cursor, makes the cell do what the tests say.

    An empty completion (nothing shown) is never right: it is counted apart, as silence."""
    if not completion.strip():
        return TestOutcome(False, error="no code")
    return run_tests(case.tests, case.cell(completion), timeout)
