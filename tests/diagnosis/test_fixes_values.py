"""Fixes the values on the failing line settle: a key or column respelt, a number joined to text made
text, ``range(len(n))`` of an int, a range one past the end. Each fix is computed from a real kernel's
error (as the server and as the magic read it) and the fixed cell runs in that kernel."""

from __future__ import annotations

import pytest

from .kernel_cells import KernelCells

PEOPLE = "person = {'Name': 'Ada', 'Born': 1815}\n"
SALES = "import pandas as pd\ndf = pd.DataFrame({'sales': [1, 2], 'region': ['a', 'b']})\n"


@pytest.mark.parametrize(
    ("cell", "fixed", "prints", "how"),
    [
        (PEOPLE + "print(person['name'])", PEOPLE + "print(person['Name'])", "Ada\n", "only in case"),
        (SALES + "print(df['Sales'].sum())", SALES + "print(df['sales'].sum())", "3\n", "only in case"),
        (  # the quotes stay the user's
            'row = {"first_name": "Ada"}\nprint(row["First Name"])',
            'row = {"first_name": "Ada"}\nprint(row["first_name"])',
            "Ada\n",
            "spaces or underscores",
        ),
        (
            "prices = {'apple': 2, 'pear': 3}\nprint(prices['aple'] * 2)",
            "prices = {'apple': 2, 'pear': 3}\nprint(prices['apple'] * 2)",
            "4\n",
            "the nearest spelling",
        ),
    ],
)
def test_a_key_or_column_that_differs_a_little_is_respelt(
    real_kernel: KernelCells, cell: str, fixed: str, prints: str, how: str
) -> None:
    fix = real_kernel.check(cell, "KeyError", fixed, prints)
    assert f"{how})" in fix.explanation


@pytest.mark.parametrize(
    "cell",
    [
        PEOPLE + "print(person['email'])",  # no key is near it
        "codes = {'Name': 1, 'NAME': 2}\nprint(codes['name'])",  # two keys differ only in case
        "colours = {'read': 1, 'reds': 2}\nprint(colours['red'])",  # two about as near
        "big = {f'k{i}': i for i in range(30)}\nbig['Key']",  # 30 keys: only some are known
    ],
)
def test_no_key_is_guessed(real_kernel: KernelCells, cell: str) -> None:
    real_kernel.no_fix(cell, "KeyError")


@pytest.mark.parametrize(
    ("cell", "fixed", "prints"),
    [
        ("count = 3\nprint('count: ' + count)", "count = 3\nprint('count: ' + str(count))", "count: 3\n"),
        (
            "n = 2\nlabel = n + ' apples'\nprint(label)",
            "n = 2\nlabel = str(n) + ' apples'\nprint(label)",
            "2 apples\n",
        ),
        (  # both numbers on the line, so that it runs
            "a, b = 1, 2.5\nprint('a=' + a + ', b=' + b)",
            "a, b = 1, 2.5\nprint('a=' + str(a) + ', b=' + str(b))",
            "a=1, b=2.5\n",
        ),
        ("text = 'n'\ntext += 4\nprint(text)", "text = 'n'\ntext += str(4)\nprint(text)", "n4\n"),
    ],
)
def test_a_number_joined_to_text_is_made_text(
    real_kernel: KernelCells, cell: str, fixed: str, prints: str
) -> None:
    fix = real_kernel.check(cell, "TypeError", fixed, prints)
    assert "joined to a str with `+`" in fix.explanation and "in `str()`" in fix.explanation


@pytest.mark.parametrize(
    "cell",
    [
        "n = 3\nprint('5' + n)",  # '5' + 3 may mean 8: int('5') or str(3)?
        "n = 3\nprint(n + '5')",
        "class Box:\n    size = 3\nprint('size: ' + Box.size)",  # the right side's type is not known
        "n = 1\nn += 'x'",  # the number is the target: there is nothing to wrap
    ],
)
def test_no_conversion_when_the_operands_are_not_certain(real_kernel: KernelCells, cell: str) -> None:
    real_kernel.no_fix(cell, "TypeError")


def test_len_of_an_int_in_a_range_is_the_int(real_kernel: KernelCells) -> None:
    cell = "n = 3\nfor i in range(len(n)):\n    print(i)"
    fix = real_kernel.check(cell, "TypeError", cell.replace("len(n)", "n"), "0\n1\n2\n")
    assert "replaced `len(n)` with `n` on line 2" in fix.explanation


@pytest.mark.parametrize(
    "cell",
    [
        "n = 3\nsize = len(n)",  # not in a range: what was meant is not known
        "n = 3\nprint(list(range(len(n))), len(n))",  # a len() outside the range too
    ],
)
def test_len_of_an_int_elsewhere_is_left_alone(real_kernel: KernelCells, cell: str) -> None:
    real_kernel.no_fix(cell, "TypeError")


LOOP = "x = [10, 20, 30]\ntotal = 0\nfor i in {}:\n    total += x[i]\nprint(total)"


@pytest.mark.parametrize(
    ("loop", "fixed", "prints"),
    [
        ("range(len(x) + 1)", "range(len(x))", "60\n"),
        ("range(0, len(x)+1)", "range(0, len(x))", "60\n"),
        ("range(1, len(x) + 1)", "range(1, len(x))", "50\n"),  # the start is kept
    ],
)
def test_a_range_one_past_the_end_is_bounded(
    real_kernel: KernelCells, loop: str, fixed: str, prints: str
) -> None:
    fix = real_kernel.check(LOOP.format(loop), "IndexError", LOOP.format(fixed), prints)
    assert "`x` has 3 items" in fix.explanation and "in the loop on line 3" in fix.explanation


def test_a_range_one_past_the_end_inside_a_function(real_kernel: KernelCells) -> None:
    """The loop over the index is found around an inner loop; the function's locals are the kernel's."""
    cell = "def show(seq):\n    for k in range(len(seq) + 1):\n        for _ in 'x':\n"
    cell += "            print(seq[k])\n\nshow('ab')"
    fix = real_kernel.check(
        cell, "IndexError", cell.replace("len(seq) + 1", "len(seq)"), "a\nb\n", locals_=True
    )
    assert fix.explanation.startswith("`seq` has indexes 0 to `len(seq) - 1`")  # the server: no count


@pytest.mark.parametrize(
    "cell",
    [
        LOOP.format("range(len(x) + 2)"),  # not one past the end
        "x = [1, 2]\ny = [1]\nfor i in range(len(x) + 1):\n    print(x[i] + y[i])",  # y is indexed too
        "x = [1, 2, 3]\nfor i in range(len(x) + 1):\n    x.pop()\n    print(x[i])",  # the loop shortens x
    ],
)
def test_no_range_is_changed_when_the_loop_is_not_the_cause(real_kernel: KernelCells, cell: str) -> None:
    real_kernel.no_fix(cell, "IndexError")
