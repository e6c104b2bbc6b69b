"""The fix set is sound, and NEXUS never offers a fix that does not run.

The set: each broken cell raises as declared, each reference fix passes its case's check and the
broken cell does not. The fixer: with a stand-in model that answers every request with code that
still raises, the model alone offers broken code for every case; NEXUS offers only what its
check run passed (the fixes the error's facts settle), and every one of them runs.
"""

from __future__ import annotations

import asyncio
from typing import Any

from tests.support.bench_modules import load_bench_module

load_bench_module("quality_set", "quality_set.py")
qf = load_bench_module("quality_fixes", "quality_fixes.py")
CASES = qf.load_fix_cases()


def test_the_fix_set_proves_itself() -> None:
    report, _ = qf.fix_baseline(CASES)
    assert report["fix_cases_as_declared"] == 1.0, report["fix_cases_not_as_declared"]
    assert report["reference_fixes_correct"] == 1.0, report["reference_fixes_wrong"]
    assert report["broken_cells_that_run"] == []
    assert len({c.id for c in CASES}) == len(CASES) >= 20


def test_the_judge_tells_right_from_wrong() -> None:
    case = next(c for c in CASES if c.id == "str_plus_int")
    assert qf.judge_fix(case, case.reference) == {"runs": True, "correct": True}
    runs_but_wrong = 'age = 36\nmessage = "Age: 37"'
    assert qf.judge_fix(case, runs_but_wrong) == {"runs": True, "correct": False}
    assert qf.judge_fix(case, case.code) == {"runs": False, "correct": False}
    assert qf.judge_fix(case, "") == {"runs": False, "correct": False}


def test_a_model_that_answers_broken_code_gets_nothing_offered() -> None:
    async def broken_model(messages: list[Any]) -> dict[str, Any]:
        return {"text": "Here is the fix:\n\n```python\nresult = undefined_name + 1\n```"}

    _, broken = qf.fix_baseline(CASES)
    summary, rows = asyncio.run(qf.measure_fixes(broken_model, CASES, broken))
    alone, nexus = summary["model_alone"], summary["nexus"]
    assert alone["offered"] == 1.0 and alone["offered_that_run"] == 0.0  # broken code with Apply
    assert nexus["offered_that_run"] == 1.0  # every fix NEXUS offers runs
    computed = [r for r in rows if r["nexus"]["source"] == "computed"]
    offered = [r for r in rows if r["nexus"]["offered"]]
    assert offered and all(r["nexus"]["source"] == "computed" for r in offered)
    assert all(not r["nexus"]["offered"] for r in rows if r["nexus"]["source"] == "model")
    assert nexus["computed"] == len(computed) >= 10  # the certain-fix rules settle most of the set
