"""Fixes the facts settle: a misspelt name is renamed in the cell, and nothing else is guessed."""

from __future__ import annotations

import linecache

import pytest

from nexus_server_ext.diagnosis.certain_fixes import certain_fix
from nexus_server_ext.diagnosis.facts import ErrorFacts, from_exception


def facts_of(code: str, run: str | None = None) -> ErrorFacts:
    """Run ``code`` (``run``: what Python runs of it, magics left out) and return the facts of its error."""
    filename = f"<cell-{abs(hash(code))}>"
    linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
    try:
        exec(compile(run if run is not None else code, filename, "exec"), {})
    except Exception as exc:
        return from_exception(exc)
    raise AssertionError("the cell did not fail")


@pytest.mark.parametrize(
    ("code", "fixed", "lines"),
    [
        (
            "def area(width, height):\n    return width * heigth\n\narea(2, 3)",
            "def area(width, height):\n    return width * height\n\narea(2, 3)",
            "line 2",
        ),
        (  # strings and comments keep the word; every use of the name is renamed
            "values = [1, 2]\nprint(sum(valeus), 'valeus')  # valeus\nprint(max(valeus))",
            "values = [1, 2]\nprint(sum(values), 'valeus')  # valeus\nprint(max(values))",
            "lines 2, 3",
        ),
        ("x = [1, 2]\nprint(lenn(x))", "x = [1, 2]\nprint(len(x))", "line 2"),  # a builtin
    ],
)
def test_a_near_miss_of_a_defined_name_is_renamed(code: str, fixed: str, lines: str) -> None:
    fix = certain_fix(facts_of(code), code)
    assert fix is not None and fix.code == fixed
    assert f"on {lines} of the cell" in fix.explanation


def test_magics_stay_and_the_code_around_them_is_fixed() -> None:
    code = "%matplotlib inline\nprices = [1.5, 2.0]\ntotal = sum(prises)"
    fix = certain_fix(facts_of(code, code.replace("%matplotlib inline", "")), code)
    assert fix is not None and fix.code == "%matplotlib inline\nprices = [1.5, 2.0]\ntotal = sum(prices)"


@pytest.mark.parametrize(
    "code",
    [
        "total = count_of_rows + 1",  # nothing close is defined: the model is asked instead
        "width = 3\nprint(widht)\nwidht = 2",  # the cell assigns the name itself: maybe meant
    ],
)
def test_nothing_is_guessed_when_the_facts_do_not_settle_it(code: str) -> None:
    assert certain_fix(facts_of(code), code) is None


def test_only_name_errors_with_a_sure_suggestion_are_fixed() -> None:
    code = "x = [1, 2, 3]\nprint(x[10])"
    assert certain_fix(facts_of(code), code) is None  # an IndexError has no rename to make
    far = ErrorFacts("NameError", "name 'q' is not defined", suggestion=None)
    assert certain_fix(far, "print(q)") is None


@pytest.mark.parametrize(
    ("code", "fixed"),
    [
        ("x = [3, 1]\nx.apend(2)\nprint(x)", "x = [3, 1]\nx.append(2)\nprint(x)"),
        (  # a module's attribute; every use on the failing line, none in the string
            "import math\nprint(math.sqr(4) + math.sqr(9), 'math.sqr')",
            "import math\nprint(math.sqrt(4) + math.sqrt(9), 'math.sqr')",
        ),
        (
            "def shout(v):\n    return v.uper()\n\nshout('a')",
            "def shout(v):\n    return v.upper()\n\nshout('a')",
        ),
    ],
)
def test_a_near_miss_of_an_attribute_the_object_has_is_renamed_on_the_failing_line(
    code: str, fixed: str
) -> None:
    fix = certain_fix(facts_of(code), code)
    assert fix is not None and fix.code == fixed
    assert fix.explanation.startswith("`") and "renamed `." in fix.explanation


def test_an_attribute_with_no_near_miss_is_left_to_the_model() -> None:
    code = "s = 'abc'\ns.foo()"
    assert certain_fix(facts_of(code), code) is None
