"""The fix measurement of the quality set: offered, runs and correct, model alone vs NEXUS.

For each case of ``quality/fixes.yaml`` the broken cell really runs (in IPython, in a child
process) and then two fixers answer:

- **model alone**: the model gets the cell and its traceback and the debug panel's request; its
  code is what a user would have been offered before NEXUS checked fixes (shown with Apply
  whenever there was code);
- **NEXUS**: the Explain / Fix service as every front door calls it: the error's facts from the
  kernel state, a certain fix when they settle it, else the model told the facts; then every fix
  runs in the scratch process (``diagnosis.scratch``) and only one that runs is offered.

*offered*: shown with Apply; *runs*: the fixed cell raises nothing; *correct*: it runs and the
case's check passes (checked in the same scratch process as the fixed cell).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from quality_set import DATA, _sandbox

from nexus_server_ext.ai.pipeline import build_messages
from nexus_server_ext.ai.postprocess import extract_code
from nexus_server_ext.ai.types import ChatMessage
from nexus_server_ext.context.manager import facts_from_state
from nexus_server_ext.diagnosis.scratch import check_in_process
from nexus_server_ext.diagnosis.service import TRACEBACK_CHARS, diagnose

# What the debug panel's Explain / Fix asks (labextension/src/debug/panel.ts).
FIX_PROMPT = (
    "This code raised the error below. Explain the cause in one or two sentences, "
    "then give the corrected code."
)


@dataclass(frozen=True)
class FixCase:
    id: str
    code: str
    exception: str
    reference: str
    check: str


@dataclass
class Broken:
    """The case's cell as it failed: the exception, the traceback, what the kernel held."""

    exception: str | None
    traceback: str
    kernel_state: dict[str, Any]


def load_fix_cases(path: Path = DATA / "fixes.yaml") -> list[FixCase]:
    return [FixCase(**{k: str(v) for k, v in item.items()}) for item in yaml.safe_load(path.read_text())]


def run_broken(case: FixCase, timeout: float = 30.0) -> Broken:
    result, why = _sandbox("error", {"cell.py": case.code}, timeout)
    if result is None:
        raise RuntimeError(f"fix case {case.id}: {why}")
    return Broken(result.get("exception"), result.get("traceback", ""), result.get("kernel_state") or {})


def judge_fix(case: FixCase, code: str) -> dict[str, bool]:
    """Whether ``code`` (a whole fixed cell) runs, and whether it is right (runs and passes the check)."""
    if not code.strip():
        return {"runs": False, "correct": False}
    runs = check_in_process(code, {}).verified
    correct = runs and check_in_process(f"{code.rstrip()}\n{case.check}\n", {}).verified
    return {"runs": runs, "correct": correct}


def fix_baseline(cases: list[FixCase]) -> tuple[dict[str, Any], list[Broken]]:
    """The harness proves itself: each cell raises as declared, each reference fix is correct, the
    broken cell itself is not."""
    broken = [run_broken(c) for c in cases]
    wrong = [c.id for c, b in zip(cases, broken, strict=True) if b.exception != c.exception]
    references = [c.id for c in cases if not judge_fix(c, c.reference)["correct"]]
    unfixed = [c.id for c in cases if judge_fix(c, c.code)["runs"]]
    report = {
        "fix_cases": len(cases),
        "fix_cases_as_declared": rate(len(cases) - len(wrong), len(cases)),
        "fix_cases_not_as_declared": wrong,
        "reference_fixes_correct": rate(len(cases) - len(references), len(cases)),
        "reference_fixes_wrong": references,
        "broken_cells_that_run": unfixed,
    }
    return report, broken


def rate(good: int, total: int) -> float:
    return round(good / total, 4) if total else 0.0


def model_alone_messages(case: FixCase, broken: Broken) -> list[ChatMessage]:
    error = broken.traceback[-TRACEBACK_CHARS:]  # its end, as NEXUS sends it: it fits a 4096-token model
    return build_messages("code_generation", FIX_PROMPT, {"code": case.code, "error": error}, "python")


def nexus_messages(case: FixCase, broken: Broken, facts: Any) -> list[ChatMessage]:
    tail = broken.traceback[-TRACEBACK_CHARS:]
    error = diagnose(facts, case.code).model_context(broken.traceback) if facts else tail
    return build_messages("code_generation", FIX_PROMPT, {"code": case.code, "error": error}, "python")


async def measure_fixes(
    ask: Any, cases: list[FixCase], broken: list[Broken]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Both fixers on every case; ``ask(messages)`` is the model (the quality benchmark's)."""
    rows = []
    for case, failed in zip(cases, broken, strict=True):
        alone = await ask(model_alone_messages(case, failed))
        alone_code = extract_code(alone["text"]).code
        row: dict[str, Any] = {
            "id": case.id,
            "model_alone": {
                "code": alone_code,
                "offered": bool(alone_code.strip()),
                **judge_fix(case, alone_code),
            },
        }
        facts = facts_from_state(failed.kernel_state) if failed.kernel_state else None
        diagnosed = diagnose(facts, case.code, fix=True) if facts is not None else None
        if diagnosed is not None and diagnosed.fix is not None:
            source, code = "computed", diagnosed.fix.code
        else:
            answer = await ask(nexus_messages(case, failed, facts))
            source, code = "model", extract_code(answer["text"]).code
        check = check_in_process(code, {}) if code.strip() else None
        offered = code if check is not None and check.verified else ""
        row["nexus"] = {
            "source": source,
            "code": code,
            "check": check.status if check else None,
            "offered": bool(offered),
            **judge_fix(case, offered),
        }
        rows.append(row)
    return summarize_fixes(rows), rows


def summarize_fixes(rows: list[dict[str, Any]]) -> dict[str, Any]:
    def of(key: str) -> dict[str, Any]:
        offered = [r[key] for r in rows if r[key]["offered"]]
        return {
            "offered": rate(len(offered), len(rows)),
            "offered_that_run": rate(sum(o["runs"] for o in offered), len(offered)),
            "correct": rate(sum(r[key]["correct"] for r in rows), len(rows)),
            "counts": f"{len(offered)} offered, {sum(o['runs'] for o in offered)} run, "
            f"{sum(r[key]['correct'] for r in rows)} correct of {len(rows)}",
        }

    nexus = of("nexus")
    nexus["computed"] = sum(r["nexus"]["source"] == "computed" for r in rows)
    return {"model_alone": of("model_alone"), "nexus": nexus}
