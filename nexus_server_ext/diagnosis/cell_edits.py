"""The smallest edits a certain fix makes to a cell: a span of one line replaced, a line inserted.

A rule finds what to change with ``ast`` (on the cell with its magics blanked, so that line numbers
and columns stay those of the cell) and changes only that text: the user's formatting, comments
and magics stay as they were. ``ast`` columns count UTF-8 bytes; the edits here convert them.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .facts import ErrorFacts

Span = tuple[int, int, str]  # byte columns [start, end) on one line, and the text that replaces them


@dataclass(frozen=True)
class CertainFix:
    code: str  # the whole cell, fixed
    explanation: str  # Markdown: what was changed and why


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


class Cell:
    """A cell's source as lines, its tree, and the row of the failing line."""

    def __init__(self, code: str, tree: ast.Module | None = None) -> None:
        self.code = code
        self.lines = code.splitlines(keepends=True)
        self.tree = tree or ast.Module(body=[], type_ignores=[])

    @classmethod
    def parse(cls, code: str) -> Cell | None:
        try:
            return cls(code, ast.parse(python_only(code)))
        except (SyntaxError, ValueError):
            return None

    @classmethod
    def unparsed(cls, code: str) -> Cell:
        """For an edit of the failing line alone (a magic elsewhere may keep the cell from parsing)."""
        return cls(code)

    def failing_row(self, facts: ErrorFacts) -> int | None:
        """``facts.lineno`` when that line of this cell is the failing line (the cell may have been
        edited since it ran, or be another cell)."""
        row = facts.lineno
        if row is None or not 0 < row <= len(self.lines):
            return None
        if facts.line and self.lines[row - 1].strip() != facts.line.strip():
            return None
        return row

    def on_row(self, row: int) -> Iterator[ast.AST]:
        """The nodes that start and end on ``row``."""
        for node in ast.walk(self.tree):
            if getattr(node, "lineno", None) == row and getattr(node, "end_lineno", None) == row:
                yield node

    def text(self, node: ast.AST) -> str:
        return ast.get_source_segment(python_only(self.code), node) or ""

    def replaced(self, row: int, spans: Iterable[Span]) -> str:
        """The cell with the byte ``spans`` of line ``row`` replaced."""
        lines = list(self.lines)
        raw = lines[row - 1].encode()
        for start, end, text in sorted(spans, reverse=True):  # right to left: earlier columns stay valid
            raw = raw[:start] + text.encode() + raw[end:]
        lines[row - 1] = raw.decode()
        return "".join(lines)

    def inserted(self, row: int, line: str) -> str:
        """The cell with ``line`` inserted before line ``row`` (after the last line when past it)."""
        lines = list(self.lines)
        if row > len(lines) and lines and not lines[-1].endswith("\n"):
            lines[-1] += "\n"
        lines.insert(row - 1, line + "\n")
        return "".join(lines)

    def span(self, node: ast.AST, text: str) -> Span:
        """Replace ``node`` (on one line) with ``text``."""
        return getattr(node, "col_offset", 0), getattr(node, "end_col_offset", 0), text


def where(rows: Iterable[int]) -> str:
    """``line 3`` or ``lines 2, 5``: where a fix changed the cell."""
    found = sorted(set(rows))
    return f"lines {', '.join(map(str, found))}" if len(found) > 1 else f"line {found[0]}"


UNCHANGED = "Nothing else was changed; run the cell to check."
