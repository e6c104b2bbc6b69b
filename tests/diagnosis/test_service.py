"""The one Explain / Fix service: the facts lead, a fix they settle is the whole answer, and the same
error gets the same diagnosis from the traceback text as from the live exception."""

from __future__ import annotations

import traceback
from dataclasses import replace

from nexus_server_ext.diagnosis.scratch import check_in_process
from nexus_server_ext.diagnosis.service import Diagnosis, diagnose

from .test_certain_fixes import facts_of

MISSPELT = "def area(width, height):\n    return width * heigth\n\narea(2, 3)"


def test_a_fix_the_facts_settle_is_the_answer_with_the_fixed_code_once_it_ran() -> None:
    diagnosed = diagnose(facts_of(MISSPELT), fix=True)
    assert diagnosed.fix is not None and "width * height" in diagnosed.fix.code
    diagnosed = replace(diagnosed, check=check_in_process(diagnosed.fix.code, {}))
    answer = diagnosed.computed_answer()
    assert answer.startswith(diagnosed.lead) and "**NameError**" in answer
    assert "**Checked:** the fixed cell runs without error" in answer
    assert answer.rstrip().endswith("area(2, 3)\n```")  # the fixed cell, ready to insert
    assert diagnosed.computed_offer().code == diagnosed.fix.code  # offered: it ran


async def test_the_server_runs_a_certain_fix_before_offering_it() -> None:
    cell = MISSPELT + "\nprint(1 / 0)"
    diagnosed = await Diagnosis().diagnose(facts=facts_of(cell), code=cell, fix=True)
    assert diagnosed is not None and diagnosed.fix is not None and diagnosed.check is not None
    # the rename is right, and the cell then divides by zero: shown, not offered to apply
    assert diagnosed.check.status == "failed" and "ZeroDivisionError" in diagnosed.check.detail
    offer = diagnosed.computed_offer()
    assert offer.code == "" and "<details>" in offer.text


def test_explaining_never_rewrites_the_code() -> None:
    diagnosed = diagnose(facts_of(MISSPELT))
    assert diagnosed.fix is None
    told = diagnosed.model_context("Traceback (most recent call last):\n  ...")
    assert told.startswith("Facts about the error") and told.endswith("...")


def test_an_error_without_a_certain_fix_goes_to_the_model_with_its_facts() -> None:
    diagnosed = diagnose(facts_of("x = [1, 2, 3]\nx[10]"), fix=True)
    assert diagnosed.fix is None
    assert "index 10 is out of range" in diagnosed.system_note()
    assert "never contradict them" in diagnosed.system_note()


async def test_the_server_reads_the_same_facts_from_the_traceback_text() -> None:
    try:
        {"a": 1}["b"]
    except KeyError as exc:
        text = "".join(traceback.format_exception(exc))
    diagnosed = await Diagnosis().diagnose(traceback=text, code='{"a": 1}["b"]', fix=True)
    assert diagnosed is not None and diagnosed.facts.exc_type == "KeyError"
    assert diagnosed.lead.startswith("**KeyError**")
    assert await Diagnosis().diagnose(traceback=None, code="x = 1") is None  # nothing to diagnose
