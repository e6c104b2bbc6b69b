"""Certain fixes of names: a misspelt name or attribute renamed, a global declared in a function.

A NameError whose name is a near-miss of one the kernel (or the failing function) defines, or of a
builtin, is fixed by renaming that name in the cell: every use of it as a Python name, not inside
strings or comments. It is not done when the cell itself assigns the name (then the misspelling may be
meant), or when magics hide the code from the tokenizer. An AttributeError whose attribute is a
near-miss of one the object has (``x.apend``), or a method named as another language names it
(``items.push`` on a list), is renamed on the failing line only: another object may have it.
An UnboundLocalError inside a function that only updates a global (``count += 1``) is fixed by
declaring it ``global`` there.
"""

from __future__ import annotations

import ast
import io
import itertools
import re
import tokenize
from typing import TYPE_CHECKING

from .causes import python_name
from .cell_edits import UNCHANGED, Cell, CertainFix, python_only, where

if TYPE_CHECKING:
    from .facts import ErrorFacts

_MISSING = re.compile(r"name '(\w+)' is not defined")
_NO_ATTRIBUTE = re.compile(r"(?:'([\w.]+)' object|module '[\w.]+') has no attribute '(\w+)'")
_UNBOUND = re.compile(
    r"cannot access local variable '(\w+)' where it is not associated with a value"
    r"|local variable '(\w+)' referenced before assignment"
)
_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)


def assigns(tree: ast.AST, name: str) -> bool:
    """Whether ``tree`` binds ``name`` anywhere: assigned, imported, defined or a parameter."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id == name and not isinstance(node.ctx, ast.Load):
            return True
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == name:
            return True
        if isinstance(node, ast.alias) and (node.asname or node.name.split(".")[0]) == name:
            return True
        if isinstance(node, ast.arg) and node.arg == name:
            return True
    return False


def renamed_name(facts: ErrorFacts, code: str) -> CertainFix | None:
    """``heigth`` -> ``height`` in the cell, when the facts name one defined near-miss."""
    missing = _MISSING.search(facts.message)
    replacement = facts.suggestion
    if not missing or not replacement or not replacement.isidentifier():
        return None
    name = missing.group(1)
    plain = python_only(code)
    cell = Cell.parse(code)
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(plain).readline))
    except (SyntaxError, tokenize.TokenError, IndentationError):
        return None
    if cell is None:
        return None
    if any(
        isinstance(n, ast.Name) and n.id == name and not isinstance(n.ctx, ast.Load)
        for n in ast.walk(cell.tree)
    ):
        return None  # the cell assigns it: renaming could change what it means
    places = [t.start for t in tokens if t.type == tokenize.NAME and t.string == name]
    if not places:
        return None
    lines = list(cell.lines)
    for row, column in reversed(places):  # right to left: earlier columns stay valid
        line = lines[row - 1]
        lines[row - 1] = line[:column] + replacement + line[column + len(name) :]
    explanation = (
        f"`{name}` is not defined, and `{replacement}` is: renamed `{name}` to `{replacement}` on "
        f"{where(row for row, _ in places)} of the cell. {UNCHANGED}"
    )
    return CertainFix("".join(lines), explanation)


def renamed_attribute(facts: ErrorFacts, code: str) -> CertainFix | None:
    """``.attr`` -> the attribute meant, on the failing line (only there: another object may have it).

    The attribute meant is the facts' suggestion (a near-miss of one the object has), or else what
    Python calls a method named as in another language (``push`` on a list is ``append``)."""
    missing = _NO_ATTRIBUTE.search(facts.message)
    cell = Cell.parse(code) or Cell.unparsed(code)  # a cell that does not parse: its failing line alone
    row = cell.failing_row(facts)
    if not missing or row is None:
        return None
    kind, attr = missing.groups()
    replacement = facts.suggestion
    other_language = False
    if not (replacement and replacement.isidentifier()) and kind:
        replacement, other_language = python_name(kind, attr), True
    if not replacement or not replacement.isidentifier():
        return None
    line = cell.lines[row - 1]
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
    lines = list(cell.lines)
    same = _same_receiver(cell, row, attr)
    if same:  # ``stack.push`` on line 2 and again on line 3: the same object, so every one of them
        for at_row, column in sorted(same, reverse=True):
            text = lines[at_row - 1]
            lines[at_row - 1] = text[:column] + replacement + text[column + len(attr) :]
        rows = sorted({r for r, _ in same})
    else:
        for column in reversed(places):
            line = line[:column] + replacement + line[column + len(attr) :]
        lines[row - 1] = line
        rows = [row]
    why = (
        f"{_a(kind).capitalize()} has no `{attr}` (another language's name for it); "
        f"Python calls it `{replacement}`"
        if other_language
        else f"`{attr}` is not an attribute of that object, and `{replacement}` is"
    )
    explanation = f"{why}: renamed `.{attr}` to `.{replacement}` on {where(rows)} of the cell. {UNCHANGED}"
    return CertainFix("".join(lines), explanation)


def _same_receiver(cell: Cell, row: int, attr: str) -> list[tuple[int, int]]:
    """Where ``name.attr`` appears in the cell, when the failing line's ``.attr`` follows a plain
    ``name`` (the same variable: the cell does not rebind it); [] otherwise."""
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(python_only(cell.code)).readline))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return []
    found = [
        (b.start[0], c.start[1], a.string)
        for a, b, c in zip(tokens, tokens[1:], tokens[2:], strict=False)
        if a.type == tokenize.NAME and b.string == "." and c.type == tokenize.NAME and c.string == attr
    ]
    receivers = {name for at, _, name in found if at == row}
    if len(receivers) != 1:
        return []
    receiver = receivers.pop()
    if cell.tree.body and assigns_after_first_use(cell, receiver):
        return []
    return [(at, column) for at, column, name in found if name == receiver]


def assigns_after_first_use(cell: Cell, name: str) -> bool:
    """Whether the cell binds ``name`` again after using it (then it may be another object)."""
    uses = sorted(
        (n.lineno, isinstance(n.ctx, ast.Store))
        for n in ast.walk(cell.tree)
        if isinstance(n, ast.Name) and n.id == name
    )
    first_load = next((line for line, store in uses if not store), None)
    return first_load is not None and any(store and line > first_load for line, store in uses)


def _a(kind: str | None) -> str:
    return f"an {kind}" if kind and kind[0] in "aeiou" else f"a {kind}"


def declared_global(facts: ErrorFacts, code: str) -> CertainFix | None:
    """``global count`` first in the function whose ``count += 1`` reads a local that has no value.

    Only when every assignment to the name in the function updates it (``count += 1``, ``count =
    count + 1``) and the name is global: assigned at the cell's top level or held by the kernel."""
    found = _UNBOUND.search(facts.message)
    cell = Cell.parse(code)
    if not found or cell is None or not facts.function:
        return None
    name = found.group(1) or found.group(2)
    row = cell.failing_row(facts)
    functions = [
        node
        for node in cell.tree.body
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == facts.function
    ]
    if row is None or len(functions) != 1:
        return None  # a method or a nested function: ``global`` may not be what is meant
    function = functions[0]
    if not function.lineno < row <= (function.end_lineno or 0) or assigns(function.args, name):
        return None
    top_level = any(assigns(node, name) for node in cell.tree.body if not isinstance(node, _SCOPES))
    if not top_level and name not in {v.name for v in facts.variables}:
        return None
    own = list(_own_nodes(function))
    if any(isinstance(n, (ast.Global, ast.Nonlocal)) and name in n.names for n in own):
        return None
    stores = [n for n in own if isinstance(n, ast.Name) and n.id == name and not isinstance(n.ctx, ast.Load)]
    updates = [n for n in own if _updates(n, name)]
    if not stores or len(stores) != len(updates):
        return None  # it is also assigned a fresh value there: maybe a local was meant
    body = function.body[1:] if ast.get_docstring(function) is not None else function.body
    if not body:
        return None
    first = body[0]
    line = cell.lines[first.lineno - 1]
    indent = line[: len(line) - len(line.lstrip())]
    if first.lineno == function.lineno or not indent or len(indent.encode()) != first.col_offset:
        return None  # ``def f(): count += 1`` or ``a = 1; count += 1``: not a line of its own
    fixed = cell.inserted(first.lineno, f"{indent}global {name}")
    explanation = (
        f"`{name}` is assigned inside `{function.name}()` (`{_update_text(cell, updates)}`), so Python "
        f"takes it for a local variable there, one that has no value yet when it is read; the `{name}` "
        f"meant is the global one. Added `global {name}` as the first statement of `{function.name}()` "
        f"(line {first.lineno} of the cell). {UNCHANGED}"
    )
    return CertainFix(fixed, explanation)


def _own_nodes(function: ast.AST) -> list[ast.AST]:
    """The nodes of ``function``'s own scope: not those of functions or classes defined inside it."""
    found: list[ast.AST] = []
    stack = list(ast.iter_child_nodes(function))
    while stack:
        node = stack.pop()
        found.append(node)
        if not isinstance(node, _SCOPES):
            stack.extend(ast.iter_child_nodes(node))
    return found


def _updates(node: ast.AST, name: str) -> bool:
    """``name += ...`` or ``name = <something using name>``."""
    if isinstance(node, ast.AugAssign):
        return isinstance(node.target, ast.Name) and node.target.id == name
    if isinstance(node, ast.Assign) and len(node.targets) == 1:
        target = node.targets[0]
        return (
            isinstance(target, ast.Name)
            and target.id == name
            and any(isinstance(n, ast.Name) and n.id == name for n in ast.walk(node.value))
        )
    return False


def _update_text(cell: Cell, updates: list[ast.AST]) -> str:
    return cell.text(updates[0]).replace("`", "'")
