"""Fixes computed from an error's facts, not generated: when the facts leave one answer, give it.

A NameError whose name is a near-miss of one the kernel (or the failing function) defines, or of a
builtin (``heigth`` where ``height`` is a parameter), is fixed by renaming that name in the cell: every
use of it as a Python name, not inside strings or comments. It is not done when the cell itself assigns
the name (then the misspelling may be meant), when magics hide the code from the tokenizer, or when the
renamed cell would not parse. An AttributeError whose attribute is a near-miss of one the object has
(``x.apend`` on a list, ``math.sqr``) is fixed by renaming that attribute on the failing line only.
A small model asked for the same fix often rewrites the cell into something worse; this answer is
certain and instant.
"""

from __future__ import annotations

import ast
import io
import itertools
import re
import tokenize
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .facts import ErrorFacts

_MISSING = re.compile(r"name '(\w+)' is not defined")
_NO_ATTRIBUTE = re.compile(r"(?:'[\w.]+' object|module '[\w.]+') has no attribute '(\w+)'")


def python_only(code: str) -> str:
    """``code`` with IPython magics and shell escapes blanked (they are not Python); lines keep their
    numbers and columns."""
    return "".join("\n" if line.lstrip().startswith(("%", "!")) else line for line in code.splitlines(True))


def parses(code: str) -> bool:
    try:
        ast.parse(python_only(code))
    except SyntaxError:
        return False
    return True


@dataclass(frozen=True)
class CertainFix:
    code: str  # the whole cell, fixed
    explanation: str  # Markdown: what was changed and why


def certain_fix(facts: ErrorFacts, code: str) -> CertainFix | None:
    """The fixed cell for ``facts`` raised by ``code``, or None when the facts do not settle it."""
    if not facts.suggestion or not facts.suggestion.isidentifier() or not code.strip():
        return None
    if facts.exc_type == "AttributeError":
        return _attribute_fix(facts, code)
    missing = _MISSING.search(facts.message)
    if facts.exc_type != "NameError" or not missing:
        return None
    name, replacement = missing.group(1), facts.suggestion
    lines = code.splitlines(keepends=True)
    plain = python_only(code)
    try:
        tree = ast.parse(plain)
        tokens = list(tokenize.generate_tokens(io.StringIO(plain).readline))
    except (SyntaxError, tokenize.TokenError, IndentationError):
        return None
    if any(
        isinstance(n, ast.Name) and n.id == name and not isinstance(n.ctx, ast.Load) for n in ast.walk(tree)
    ):
        return None  # the cell assigns it: renaming could change what it means
    places = [t.start for t in tokens if t.type == tokenize.NAME and t.string == name]
    if not places:
        return None
    for row, column in reversed(places):  # right to left: earlier columns stay valid
        line = lines[row - 1]
        lines[row - 1] = line[:column] + replacement + line[column + len(name) :]
    fixed = "".join(lines)
    if not parses(fixed):
        return None
    rows = sorted({row for row, _ in places})
    where = f"lines {', '.join(map(str, rows))}" if len(rows) > 1 else f"line {rows[0]}"
    explanation = (
        f"`{name}` is not defined, and `{replacement}` is: renamed `{name}` to `{replacement}` on {where} "
        "of the cell. Nothing else was changed; run the cell to check."
    )
    return CertainFix(fixed, explanation)


def _attribute_fix(facts: ErrorFacts, code: str) -> CertainFix | None:
    """``.attr`` -> ``.suggestion`` on the failing line (only there: another object may have it)."""
    missing = _NO_ATTRIBUTE.search(facts.message)
    lines = code.splitlines(keepends=True)
    if not missing or facts.lineno is None or not 0 < facts.lineno <= len(lines):
        return None
    attr, replacement, row = missing.group(1), str(facts.suggestion), facts.lineno
    line = lines[row - 1]
    if line.lstrip().startswith(("%", "!")):
        return None
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(line.strip() + "\n").readline))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return None
    indent = len(line) - len(line.lstrip())
    places = [
        t.start[1] + indent
        for before, t in itertools.pairwise(tokens)
        if t.type == tokenize.NAME
        and t.string == attr
        and before.type == tokenize.OP
        and before.string == "."
    ]
    if not places:
        return None
    for column in reversed(places):
        line = line[:column] + replacement + line[column + len(attr) :]
    lines[row - 1] = line
    fixed = "".join(lines)
    if not parses(fixed):
        return None
    explanation = (
        f"`{attr}` is not an attribute of that object, and `{replacement}` is: renamed `.{attr}` to "
        f"`.{replacement}` on line {row} of the cell. Nothing else was changed; run the cell to check."
    )
    return CertainFix(fixed, explanation)
