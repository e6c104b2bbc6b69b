"""A method named as another language names it is renamed; a global updated in a function is declared
``global``; a misspelt name is renamed. Each fix is computed from a real kernel's error (as the server
and as the magic read it) and the fixed cell runs in that kernel."""

from __future__ import annotations

import pytest

from .kernel_cells import KernelCells


@pytest.mark.parametrize(
    ("cell", "fixed", "prints"),
    [
        (
            "items = [3, 1]\nitems.push(2)\nprint(items)",
            "items = [3, 1]\nitems.append(2)\nprint(items)",
            "[3, 1, 2]\n",
        ),
        ("word = 'abc'\nprint(word.uppercase())", "word = 'abc'\nprint(word.upper())", "ABC\n"),
        ("name = ' Ada '\nprint(name.trim())", "name = ' Ada '\nprint(name.strip())", "Ada\n"),
    ],
)
def test_a_method_named_as_in_another_language_gets_pythons_name(
    real_kernel: KernelCells, cell: str, fixed: str, prints: str
) -> None:
    fix = real_kernel.check(cell, "AttributeError", fixed, prints)
    assert "(another language's name for it); Python calls it" in fix.explanation


def test_a_near_miss_attribute_is_renamed_from_the_kernels_hint(real_kernel: KernelCells) -> None:
    cell = "values = [3, 1]\nvalues.apend(2)\nprint(values)"
    fix = real_kernel.check(cell, "AttributeError", cell.replace("apend", "append"), "[3, 1, 2]\n")
    assert fix.explanation.startswith("`apend` is not an attribute of that object, and `append` is")


@pytest.mark.parametrize(
    "cell",
    [
        "point = (1, 2)\npoint.push(3)",  # a tuple has no append either
        "word = 'abc'\nword.push('d')",  # nor a str
        "box = {}\nbox.size()",  # Python's name for it is len(...), not a method
    ],
)
def test_no_rename_when_python_has_no_such_method(real_kernel: KernelCells, cell: str) -> None:
    real_kernel.no_fix(cell, "AttributeError")


BUMP = "count = 0\ndef bump():\n    '''Add one.'''\n    count += 1\nbump()\nprint(count)"
ADD = (
    "total = 10\n\ndef add(n):\n    # a running sum\n    total = total + n\n    return total\n\nprint(add(5))"
)


@pytest.mark.parametrize(
    ("cell", "fixed", "prints"),
    [
        (BUMP, BUMP.replace("    count +=", "    global count\n    count +="), "1\n"),  # after the docstring
        (ADD, ADD.replace("    total =", "    global total\n    total ="), "15\n"),  # after the comment
    ],
)
def test_a_global_updated_in_a_function_is_declared_global(
    real_kernel: KernelCells, cell: str, fixed: str, prints: str
) -> None:
    fix = real_kernel.check(cell, "UnboundLocalError", fixed, prints)
    assert "so Python takes it for a local variable there" in fix.explanation
    assert "Added `global " in fix.explanation


def test_a_global_of_an_earlier_cell_is_declared_global(real_kernel: KernelCells) -> None:
    """``hits`` is the notebook's, from a cell run before: the kernel's values say it is global."""
    cell = "def hit():\n    hits += 1\nhit()\nprint(hits)"
    fixed = "def hit():\n    global hits\n    hits += 1\nhit()\nprint(hits)"
    real_kernel.check(cell, "UnboundLocalError", fixed, "6\n", setup="hits = 5")


@pytest.mark.parametrize(
    ("cell", "setup"),
    [
        ("def f():\n    n += 1\nf()", ""),  # no global n anywhere: a local was meant
        ("n = 0\ndef f():\n    n += 1\n    n = 5\nf()", ""),  # it is also given a fresh value: maybe local
        ("n = 0\ndef f():\n    print(n)\n    n = 1\nf()", ""),  # read, then assigned: not an update
        ("n = 0\ndef outer():\n    def inner():\n        n += 1\n    inner()\nouter()", ""),  # nonlocal?
        ("def f():\n    n += 1\nf()", "m = 1"),  # the kernel has other globals, not n
    ],
)
def test_no_global_when_a_local_may_be_meant(real_kernel: KernelCells, cell: str, setup: str) -> None:
    real_kernel.no_fix(cell, "UnboundLocalError", setup)


def test_a_misspelt_name_is_renamed_from_the_kernels_names(real_kernel: KernelCells) -> None:
    cell = "print(sum(prices))"
    real_kernel.check(cell, "NameError", "print(sum(prizes))", "3\n", setup="prizes = [1, 2]")


def test_a_method_from_another_language_is_renamed_wherever_the_same_list_uses_it(
    real_kernel: KernelCells,
) -> None:
    cell = "stack = []\nstack.push(1)\nstack.push(2)\nprint(stack)"
    fixed = cell.replace("push", "append")
    fix = real_kernel.check(cell, "AttributeError", fixed, "[1, 2]\n")
    assert "on lines 2, 3 of the cell" in fix.explanation
