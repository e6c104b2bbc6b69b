"""Certain fixes from the values on the failing line: a key respelt, an int made text, a range bounded.

These rules read the types and values the facts hold for the failing line's names (a dict's keys, a
DataFrame's columns, whether ``count`` is an int) and change one expression on that line, or on the
loop line above it:

- KeyError: ``d['name']`` where ``d`` has ``'Name'`` (the same but for case, spaces or underscores,
  or clearly the nearest key): the key is respelt. Not when two keys are about as near, or when only
  some of the keys are known.
- TypeError: ``'n=' + count`` where ``count`` is an int: ``str(count)``. Not when either side's type is
  unknown, nor when the text looks like a number (then ``int()`` may be what is meant).
- TypeError: ``range(len(n))`` where ``n`` is an int: ``range(n)``.
- IndexError: ``x[i]`` in ``for i in range(len(x) + 1)``: ``range(len(x))`` (a start is kept).
"""

from __future__ import annotations

import ast
import difflib
import re
from typing import TYPE_CHECKING, Any, TypeGuard

from .cell_edits import UNCHANGED, Cell, CertainFix

if TYPE_CHECKING:
    from .facts import ErrorFacts, Variable

_NUMBERS = ("int", "float")
_CONCAT = re.compile(r'can only concatenate str \(not "(int|float)"\) to str')
_ADD = re.compile(r"unsupported operand type\(s\) for \+=?: '(int|float)' and 'str'")
_NO_LEN = re.compile(r"object of type 'int' has no len\(\)")
_OUT_OF_RANGE = re.compile(r"(?:list|tuple|string)(?: assignment)? index out of range")
_MUTATORS = {"append", "extend", "insert", "pop", "remove", "clear", "sort", "reverse"}


def _variables(facts: ErrorFacts) -> dict[str, Variable]:
    return {v.name: v for v in facts.variables}


def _value(name: str, variables: dict[str, Variable]) -> Any:
    """A variable's value when its short repr is a literal; ``...`` when unknown."""
    var = variables.get(name)
    if var is None or var.value is None:
        return ...
    try:
        return ast.literal_eval(var.value)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return ...


# -- KeyError: a key respelt --------------------------------------------------------------------------
def respelt_key(facts: ErrorFacts, code: str) -> CertainFix | None:
    """``d['name']`` -> ``d['Name']`` on the failing line, when ``d``'s keys settle which was meant."""
    try:
        missing = ast.literal_eval(facts.message.strip())
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None
    cell = Cell.parse(code)
    row = cell.failing_row(facts) if cell else None
    if not isinstance(missing, str) or cell is None or row is None:
        return None
    variables = _variables(facts)
    found = [
        node
        for node in cell.on_row(row)
        if isinstance(node, ast.Subscript)
        and isinstance(node.value, ast.Name)
        and isinstance(node.slice, ast.Constant)
        and node.slice.value == missing
        and node.value.id in variables
    ]
    owners = {n.value.id for n in found if isinstance(n.value, ast.Name)}
    if len(owners) != 1:
        return None  # no mapping on the line, or two that use the key
    var = variables[owners.pop()]
    keys = _string_keys(var)
    right = _closest_key(missing, keys) if keys is not None and missing not in keys else None
    if right is None:
        return None
    spans = [cell.span(n.slice, _literal_like(cell.text(n.slice), right)) for n in found]
    word = "column" if var.type.endswith("DataFrame") else "key"
    near = _near(missing, right)
    explanation = (
        f"{word.capitalize()} {missing!r} is not in `{var.name}`, and {right!r} is ({near}): replaced "
        f"{missing!r} with {right!r} on line {row} of the cell. {UNCHANGED}"
    )
    return CertainFix(cell.replaced(row, spans), explanation)


def _string_keys(var: Variable) -> list[str] | None:
    """All of ``var``'s string keys (or columns); None when only some are known."""
    reprs = var.keys
    if reprs is None or var.key_count is None or var.key_count > len(reprs):
        return None
    keys: list[str] = []
    for text in reprs:
        if "..." in text and len(text) >= 40:
            return None  # shortened for display: not the key itself
        try:
            key = ast.literal_eval(text)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            continue
        if isinstance(key, str):
            keys.append(key)
    return keys


def _folded(key: str) -> str:
    return re.sub(r"[\s_-]+", "", key.casefold())


def _closest_key(missing: str, keys: list[str]) -> str | None:
    """The one key ``missing`` surely means: the same but for case, spaces or underscores, or clearly
    the nearest spelling."""
    same = [k for k in keys if _folded(k) == _folded(missing)]
    if same:
        return same[0] if len(same) == 1 else None
    if len(missing) < 4:
        return None
    close = difflib.get_close_matches(missing, keys, n=2, cutoff=0.8)
    ratios = [difflib.SequenceMatcher(None, missing, k).ratio() for k in close]
    if not close or (len(close) > 1 and ratios[0] - ratios[1] < 0.05):
        return None
    return close[0]


def _near(missing: str, right: str) -> str:
    if missing.casefold() == right.casefold():
        return "it differs only in case"
    if _folded(missing) == _folded(right):
        return "it differs only in case, spaces or underscores"
    return "it is the nearest spelling"


def _literal_like(original: str, value: str) -> str:
    """``value`` as a string literal quoted the way ``original`` is."""
    quote = original[:1]
    simple = quote in "'\"" and original.endswith(quote) and "\\" not in original
    if simple and value.isprintable() and quote not in value and "\\" not in value:
        return f"{quote}{value}{quote}"
    return repr(value)


# -- TypeError: an int joined to a str ----------------------------------------------------------------
def _kind(node: ast.AST, variables: dict[str, Variable]) -> str | None:
    """``str``, ``int`` or ``float`` when the node's type is known from a literal, a variable's type or
    a conversion; an addition of text and a number counts as text (once it is fixed)."""
    if isinstance(node, ast.Constant) and type(node.value) in (str, int, float):
        return type(node.value).__name__
    if isinstance(node, ast.JoinedStr):
        return "str"
    if isinstance(node, ast.Name) and node.id in variables:
        kind = variables[node.id].type
        return kind if kind in ("str", *_NUMBERS) else None
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        return {"str": "str", "repr": "str", "int": "int", "len": "int", "float": "float"}.get(node.func.id)
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Mult)):
        kinds = {_kind(node.left, variables), _kind(node.right, variables)}
        if None in kinds:
            return None
        if "str" in kinds:
            return "str" if isinstance(node.op, ast.Add) or kinds == {"str", "int"} else None
        return "float" if "float" in kinds else "int"
    return None


def _numeric_text(node: ast.AST, variables: dict[str, Variable]) -> bool | None:
    """Whether text reads as a number (``'5'``); None when its value is not known."""
    if isinstance(node, ast.Constant):
        value: Any = node.value
    elif isinstance(node, ast.Name):
        value = _value(node.id, variables)
    else:
        return False  # an f-string or a joined text: text by construction
    if not isinstance(value, str):
        return None
    try:
        float(value)
    except ValueError:
        return False
    return True


def converted_to_str(facts: ErrorFacts, code: str) -> CertainFix | None:
    """``'n=' + count`` -> ``'n=' + str(count)`` on the failing line, where ``count`` is surely a number
    and the other side surely text."""
    matched = _CONCAT.search(facts.message) or _ADD.search(facts.message)
    cell = Cell.parse(code)
    row = cell.failing_row(facts) if cell else None
    if not matched or cell is None or row is None:
        return None
    number = matched.group(1)
    failed = ("str", number) if matched.re is _CONCAT else (number, "str")
    variables = _variables(facts)
    wrapped: list[ast.AST] = []
    seen = False
    for node in cell.on_row(row):
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            left, right = node.left, node.right
        elif isinstance(node, ast.AugAssign) and isinstance(node.op, ast.Add):
            left, right = node.target, node.value
        else:
            continue
        kinds = (_kind(left, variables), _kind(right, variables))
        seen = seen or kinds == failed
        if "str" not in kinds or not set(kinds) <= {"str", *_NUMBERS} or kinds == ("str", "str"):
            continue
        text, numeric = (left, right) if kinds[0] == "str" else (right, left)
        if _numeric_text(text, variables) is not False or numeric is getattr(node, "target", None):
            return None  # '5' + 3 may mean 8; n += 'x' cannot be wrapped where it stands
        wrapped.append(numeric)
    if not seen or not wrapped:
        return None
    texts = [cell.text(n) for n in wrapped]
    spans = [cell.span(n, f"str({t})") for n, t in zip(wrapped, texts, strict=True)]
    one = len(texts) == 1
    what = ("an int" if _kind(wrapped[0], variables) == "int" else "a float") if one else "numbers"
    explanation = (
        f"{', '.join(f'`{t}`' for t in texts)} {'is' if one else 'are'} {what}, joined to a str with `+`, "
        f"and Python does not turn a number into text by itself: wrapped {'it' if one else 'each'} in "
        f"`str()` on line {row} of the cell. {UNCHANGED}"
    )
    return CertainFix(cell.replaced(row, spans), explanation)


# -- TypeError: len() of an int -----------------------------------------------------------------------
def range_of_int(facts: ErrorFacts, code: str) -> CertainFix | None:
    """``range(len(n))`` -> ``range(n)`` on the failing line, where ``n`` is an int."""
    cell = Cell.parse(code)
    row = cell.failing_row(facts) if cell else None
    if not _NO_LEN.search(facts.message) or cell is None or row is None:
        return None
    variables = _variables(facts)
    nodes = list(cell.on_row(row))
    lens = [n for n in nodes if _calls(n, "len") and len(n.args) == 1]
    in_range = {id(arg) for n in nodes if _calls(n, "range") for arg in n.args}
    ints = [n for n in lens if _kind(n.args[0], variables) == "int"]
    if not ints or any(_length_unknown(n.args[0], variables) for n in lens):
        return None  # another len() on the line may be the one that failed
    if any(id(n) not in in_range for n in ints):
        return None  # only range(len(n)) has one meaning: range(n)
    texts = [cell.text(n.args[0]) for n in ints]
    spans = [cell.span(n, t) for n, t in zip(ints, texts, strict=True)]
    names = ", ".join(f"`{t}`" for t in texts)
    explanation = (
        f"{names} {'is an int' if len(texts) == 1 else 'are ints'}: a count, not a collection, so it has "
        f"no length, and `range({texts[0]})` already counts from 0 to {texts[0]} - 1: replaced "
        f"`len({texts[0]})` with `{texts[0]}` on line {row} of the cell. {UNCHANGED}"
    )
    return CertainFix(cell.replaced(row, spans), explanation)


def _calls(node: ast.AST, function: str) -> TypeGuard[ast.Call]:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == function


def _length_unknown(node: ast.AST, variables: dict[str, Variable]) -> bool:
    """Whether ``len(node)`` might be the failing call: its argument's type is not known."""
    if isinstance(node, ast.Name):
        return node.id not in variables
    return not isinstance(node, (ast.Constant, ast.List, ast.Tuple, ast.Dict, ast.Set, ast.JoinedStr))


# -- IndexError: a range one past the end -------------------------------------------------------------
def bounded_range(facts: ErrorFacts, code: str) -> CertainFix | None:
    """``for i in range(len(x) + 1)`` -> ``range(len(x))`` when the failing line indexes ``x[i]``."""
    cell = Cell.parse(code)
    row = cell.failing_row(facts) if cell else None
    if not _OUT_OF_RANGE.search(facts.message) or cell is None or row is None:
        return None
    indexed = {
        (node.value.id, node.slice.id)
        for node in cell.on_row(row)
        if isinstance(node, ast.Subscript)
        and isinstance(node.value, ast.Name)
        and isinstance(node.slice, ast.Name)
    }
    loops = [
        node
        for node in ast.walk(cell.tree)
        if isinstance(node, ast.For)
        and isinstance(node.target, ast.Name)
        and node.target.id in {index for _, index in indexed}
        and node.lineno < row <= (node.end_lineno or 0)
    ]
    if not loops:
        return None
    loop = max(loops, key=lambda node: node.lineno)  # the innermost loop over an index used on the line
    index = loop.target.id if isinstance(loop.target, ast.Name) else ""
    stop = _past_the_end(loop.iter)
    if stop is None or not isinstance(stop.left, ast.Call) or not isinstance(stop.left.args[0], ast.Name):
        return None
    name = stop.left.args[0].id
    if {pair for pair in indexed if pair[1] == index} != {(name, index)} or _changes(loop, name, index):
        return None  # another sequence indexed by i on the line, or the loop changes x or i
    variables = _variables(facts)
    size = variables[name].size if name in variables else None
    current = _value(index, variables)
    if size is not None and current is not ... and current != size:
        return None  # i is not len(x): this is not the one-past-the-end step
    fixed = cell.replaced(stop.lineno, [cell.span(stop, cell.text(stop.left))])
    count = f" has {size} items, so it" if size is not None else ""
    explanation = (
        f"`{name}`{count} has indexes 0 to `len({name}) - 1`, and `{cell.text(loop.iter)}` goes one past "
        f"them: the last `{index}` is `len({name})`. Replaced `{cell.text(stop)}` with `len({name})` in the "
        f"loop on line {stop.lineno} of the cell. {UNCHANGED}"
    )
    return CertainFix(fixed, explanation)


def _past_the_end(node: ast.AST) -> ast.BinOp | None:
    """The stop of ``range(len(x) + 1)`` or ``range(start, len(x) + 1)``, on one line."""
    if not (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "range"
        and len(node.args) in (1, 2)
        and not node.keywords
    ):
        return None
    stop = node.args[-1]
    if (
        isinstance(stop, ast.BinOp)
        and isinstance(stop.op, ast.Add)
        and isinstance(stop.right, ast.Constant)
        and stop.right.value == 1
        and isinstance(stop.left, ast.Call)
        and isinstance(stop.left.func, ast.Name)
        and stop.left.func.id == "len"
        and len(stop.left.args) == 1
        and getattr(stop, "lineno", None) == getattr(stop, "end_lineno", None)
    ):
        return stop
    return None


def _changes(loop: ast.For, name: str, index: str) -> bool:
    """Whether the loop's body assigns ``index`` or ``name``, or changes ``name``'s length."""
    for node in (n for statement in loop.body for n in ast.walk(statement)):
        if isinstance(node, ast.Name) and node.id in (name, index) and not isinstance(node.ctx, ast.Load):
            return True
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == name
            and node.attr in _MUTATORS
        ):
            return True
        if isinstance(node, ast.Delete):
            return True
    return False
