"""Fixes computed from an error's facts, not generated: when the facts leave one answer, give it.

Each rule reads the error's facts (its message, Python's own hints, the failing line and the values
on it) and the cell's tree, and changes as little as it can; a rule that is not sure returns None,
and then a model is asked. The rules, by error:

- NameError: a module used but not imported (``math.sqrt(2)``, ``np.mean(x)``) gets its import at
  the top of the cell (``fixes_imports``); a near-miss of a name the kernel or the failing function
  defines, or of a builtin (``heigth`` where ``height`` is a parameter), is renamed in the cell
  (``fixes_names``).
- ModuleNotFoundError: a near-miss of an installed module (``import numpyy``) is respelt.
- AttributeError: a near-miss of an attribute the object has (``x.apend``), or a method named as in
  another language (``items.push``), is renamed on the failing line.
- UnboundLocalError: a global updated inside a function (``count += 1``) is declared ``global``.
- KeyError: a key or DataFrame column that differs only in case or spelling from one that exists is
  respelt on the failing line (``fixes_values``).
- TypeError: an int joined to a str with ``+`` is wrapped in ``str()``; ``range(len(n))`` of an int
  ``n`` becomes ``range(n)``.
- IndexError: ``x[i]`` in a loop over ``range(len(x) + 1)`` loops over ``range(len(x))``.

A small model asked for the same fix often rewrites the cell into something worse; these answers are
certain and instant. Every fixed cell parses, or it is not offered.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from .cell_edits import CertainFix, parses, python_only
from .fixes_imports import missing_import, respelt_module
from .fixes_names import declared_global, renamed_attribute, renamed_name
from .fixes_values import bounded_range, converted_to_str, range_of_int, respelt_key

if TYPE_CHECKING:
    from .facts import ErrorFacts

__all__ = ["CertainFix", "certain_fix", "parses", "python_only"]

Rule = Callable[["ErrorFacts", str], "CertainFix | None"]

# In order: the first rule that is sure wins (a module used but not imported before a near-miss name:
# ``np.mean`` is numpy, not a variable called ``nps``).
RULES: dict[str, tuple[Rule, ...]] = {
    "NameError": (missing_import, renamed_name),
    "ModuleNotFoundError": (respelt_module,),
    "AttributeError": (renamed_attribute,),
    "UnboundLocalError": (declared_global,),
    "KeyError": (respelt_key,),
    "TypeError": (converted_to_str, range_of_int),
    "IndexError": (bounded_range,),
}


def certain_fix(facts: ErrorFacts, code: str) -> CertainFix | None:
    """The fixed cell for ``facts`` raised by ``code``, or None when the facts do not settle it."""
    if not code.strip():
        return None
    for rule in RULES.get(facts.exc_type, ()):
        fix = rule(facts, code)
        if fix is not None and fix.code != code and parses(fix.code):
            return fix
    return None
