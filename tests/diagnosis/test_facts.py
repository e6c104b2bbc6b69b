"""Error facts from real exceptions raised by cells of a real IPython shell, and from traceback text."""

from __future__ import annotations

import traceback
from typing import Any

import pytest

from nexus_server_ext.diagnosis.facts import ErrorFacts, from_exception, from_traceback_text


@pytest.fixture(scope="module")
def shell() -> Any:
    from IPython.testing.globalipapp import get_ipython

    return get_ipython()


def raised(shell: Any, code: str) -> BaseException:
    result = shell.run_cell(code)
    error = result.error_in_exec or result.error_before_exec
    assert error is not None, f"the cell did not raise: {code!r}"
    return error


def facts_of(shell: Any, code: str) -> ErrorFacts:
    return from_exception(raised(shell, code))


def test_index_error_on_a_list_counts_the_items(shell: Any) -> None:
    facts = facts_of(shell, "x = [1, 2, 3]\nx[10]")
    assert (facts.exc_type, facts.lineno, facts.line) == ("IndexError", 2, "x[10]")
    assert facts.cause == "`x` has 3 items (valid indexes 0-2 or -3 to -1); index 10 is out of range"
    shown = facts.render_markdown()
    assert shown.startswith("**IndexError**: list index out of range - line 2: `x[10]`")
    assert "`x` (list, len 3) = `[1, 2, 3]`" in shown
    # the index in a variable, and an empty list
    facts = facts_of(shell, "names = ['a']\ni = -2\nprint(names[i])")
    assert facts.cause == "`names` has 1 item (valid indexes 0 or -1); index `i` = -2 is out of range"
    empty = facts_of(shell, "empty = []\nempty[0]")
    assert empty.cause.startswith("`empty` has 0 items (it has no valid index)")


def test_key_error_lists_the_keys_and_the_closest(shell: Any) -> None:
    facts = facts_of(shell, "prices = {'apple': 1.2, 'pear': 0.8}\ntotal = prices['aple'] * 3")
    assert facts.exc_type == "KeyError" and facts.line == "total = prices['aple'] * 3"
    assert facts.cause == (
        "key 'aple' is not in `prices`; its keys are: 'apple', 'pear' (did you mean 'apple'?)"
    )
    assert "Cause: key 'aple' is not in `prices`" in facts.render_markdown()


def test_a_missing_dataframe_column_lists_the_columns_and_counts_columns_not_rows(shell: Any) -> None:
    code = (
        "import pandas as pd\n"
        "df = pd.DataFrame({'region': ['a', 'b', 'c'], 'amount': [1, 2, 3]})\n"
        "df['Sales'].sum()"
    )
    facts = facts_of(shell, code)
    assert (facts.lineno, facts.line) == (3, "df['Sales'].sum()")  # the user's line, not pandas'
    assert facts.cause == "column 'Sales' is not in `df`; its columns are: 'region', 'amount'"
    wide = "wide = pd.DataFrame({f'c{i}': [1] for i in range(12)})\nwide['x']"
    assert facts_of(shell, wide).cause.endswith("'c9', ... (12 in all)")


def test_zero_division_names_the_divisor(shell: Any) -> None:
    facts = facts_of(shell, "total = 10\ncount = 0\nmean = total / count")
    assert (facts.lineno, facts.line) == (3, "mean = total / count")
    assert facts.cause == "the divisor `count` is 0"
    assert [v.name for v in facts.variables] == ["total", "count"]
    facts = facts_of(shell, "rows = []\nshare = 100 * 1 / len(rows)")
    assert facts.cause == "the divisor `len(rows)` is 0"  # the only division on the line


def test_name_error_suggests_a_name_the_kernel_has(shell: Any) -> None:
    facts = facts_of(shell, "temperatures = [21.5, 23.0]\nprint(max(temperature))")
    assert facts.exc_type == "NameError" and facts.line == "print(max(temperature))"
    assert facts.cause == "`temperature` is not defined in this kernel; did you mean `temperatures`?"
    assert "run the cell that defines it" in facts_of(shell, "qqq_unknown_zzz + 1").cause


def test_an_error_inside_a_library_reports_the_cells_line(shell: Any) -> None:
    facts = facts_of(shell, "import json\nraw = '{bad'\nconfig = json.loads(raw)\nprint(config)")
    assert facts.exc_type == "JSONDecodeError"
    assert (facts.lineno, facts.line) == (3, "config = json.loads(raw)")  # the cell's line, not json's
    assert facts.origin is not None and facts.origin.startswith("json/decoder.py")
    assert "raised inside json/decoder.py" in facts.cause
    assert [v.name for v in facts.variables] == ["raw"]  # the module json is not a value
    # a function defined in the cell: its line, and which function
    facts = facts_of(shell, "def ratio(a, b):\n    return a / b\n\nratio(1, 0)")
    assert (facts.lineno, facts.line, facts.function) == (2, "return a / b", "ratio")
    assert facts.cause == "the divisor `b` is 0"
    assert "line 2 in `ratio()`: `return a / b`" in facts.render_markdown()


@pytest.mark.parametrize(
    ("code", "cause"),
    [
        ("items = [1, 2]\nitems.push(3)", "`items` is a list, which has no attribute `push`"),
        ("result = None\nresult.shape", "`result` is None, so it has no attribute `shape`"),
        ("count = 3\nlabel = 'n=' + count", "a str and an int cannot be joined with +"),
        ("size = 4\nsize()", "`size` is an int, not a function"),
        ("int('12a')", "int() cannot read '12a' as a whole number"),
        ("a, b = [1, 2, 3]", "the value has more items than the 2 names"),
        ("import nexus_no_such_module", "`%pip install nexus_no_such_module`"),
        ("import sklearn_not_here.x", "not installed in this kernel's environment"),
        ("open('no-such-file.csv')", "the file 'no-such-file.csv' does not exist"),
        ("x = (", "Python cannot parse line 1"),
        ("import nump as np", "there is no module `nump`; did you mean `numpy`?"),
        ("words = ['a']\nwords.push('b')", "Python's name for it is `append`"),
        ("data = [3, 1]\nordered = data.sort()\nordered[0]", "`ordered` is None"),
        ("def find(x):\n    if x:\n        return 1\nfind(0).real", "ends without returning a value"),
        ("for i in 5:\n    pass", "`5` is an int, which cannot be looped over; to loop n times use range(n)"),
        ("seen = set()\nseen.add([1, 2])", "a list can change, so it cannot be hashed"),
        (
            "def f(n):\n    return f(n - 1)\nf(3)",
            "`f()` calls itself again and again without reaching a base case",
        ),
        ("it = iter([1])\nnext(it)\nnext(it)", "the iterator `it` is exhausted"),
        ("import math\nmath.exp(1000)", "too large for a float"),
        ("import math\nmath.sqroot(16)", "the module `math` has no attribute `sqroot`; did you mean `sqrt`?"),
        ("raise RuntimeError('boom')", "RuntimeError was raised while running line 1"),
    ],
)
def test_common_errors_get_a_cause(shell: Any, code: str, cause: str) -> None:
    assert cause in facts_of(shell, code).cause


def test_prompt_text_states_the_facts_for_the_model(shell: Any) -> None:
    text = facts_of(shell, "x = [1, 2, 3]\nx[10]").prompt_text()
    assert "- Error: IndexError: list index out of range" in text
    assert "- Failing line 2 of the cell: x[10]" in text
    assert "- x: list, len 3, value [1, 2, 3]" in text
    assert "- Cause: x has 3 items (valid indexes 0-2 or -3 to -1); index 10 is out of range." in text


def test_traceback_text_from_python_and_from_ipython(shell: Any) -> None:
    error = raised(shell, "data = {'a': 1}\nvalue = data['b']")
    text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    summary = {"name": "data", "type": "dict", "len": 1, "value": "{'a': 1}", "keys": ["'a'"]}
    facts = from_traceback_text(text, [summary, {"name": "other", "type": "int", "value": "2"}])
    assert facts is not None and facts.summary == "KeyError: 'b'"
    assert (facts.lineno, facts.line) == (2, "value = data['b']")
    assert [v.name for v in facts.variables] == ["data"]
    assert facts.cause == "key 'b' is not in `data`; its keys are: 'a'"
    # what the notebook shows (IPython's format, with colours)
    shown = shell.InteractiveTB.structured_traceback(type(error), error, error.__traceback__)
    facts = from_traceback_text("\n".join(shown), [summary])
    assert facts is not None and facts.exc_type == "KeyError"
    assert (facts.lineno, facts.line) == (2, "value = data['b']")
    assert from_traceback_text("no traceback here") is None
