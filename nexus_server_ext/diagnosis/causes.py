"""One sentence on why an error happened, for the errors notebooks raise most.

Each rule reads the failing line (parsed with ``ast``) and the values on it, and says what is certain:
``x`` has 3 items and index 10 is out of range; key 'foo' is not among ``d``'s keys; the divisor
``count`` is 0. A rule that cannot be sure returns None and the caller falls back to a plain sentence.
"""

from __future__ import annotations

import ast
import builtins
import difflib
import re
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .facts import ErrorFacts, Variable


@dataclass
class Scene:
    """What a rule reads: the facts so far, the parsed line, its values, the kernel's names."""

    facts: ErrorFacts
    tree: ast.Module | None
    variables: dict[str, Variable]
    known: set[str]  # names the kernel defines, for "did you mean"
    hint: str | None = None  # Python's own suggestion, when it made one


Rule = Callable[[Scene], "str | None"]
_NONE_ORIGIN = (
    "a function that ends without returning a value returns None, and so do list.sort() and other "
    "methods that change an object in place"
)
# methods people bring from other languages, and what Python calls them
_OTHER_LANGUAGES = {"push": "append", "add": "append", "addAll": "extend", "size": "len(...)"}
_OTHER_LANGUAGES |= {"length": "len(...)", "indexOf": "index", "uppercase": "upper", "lowercase": "lower"}
_OTHER_LANGUAGES |= {"toUpperCase": "upper", "toLowerCase": "lower", "replaceAll": "replace"}
_OTHER_LANGUAGES |= {"startsWith": "startswith", "endsWith": "endswith", "trim": "strip"}
_POPULAR_MODULES = ("numpy", "pandas", "matplotlib", "scipy", "seaborn", "torch", "requests", "polars")
_PIP_NAMES = {
    "sklearn": "scikit-learn",
    "cv2": "opencv-python",
    "PIL": "pillow",
    "yaml": "pyyaml",
    "bs4": "beautifulsoup4",
    "skimage": "scikit-image",
    "dateutil": "python-dateutil",
}


def parse_line(line: str) -> ast.Module | None:
    """A single source line as a tree; a block header (``if x[1]:``) gets a body so that it parses."""
    for attempt in (line, line + "\n    pass", re.sub(r"^(elif|else)\b", "if True or", line) + "\n    pass"):
        try:
            return ast.parse(attempt)
        except (SyntaxError, ValueError):
            continue
    return None


def names_on(line: str) -> list[str]:
    """The bare names a line uses, in order of first appearance."""
    tree = parse_line(line)
    if tree is None:
        found = re.findall(r"(?<![\w.])[A-Za-z_]\w*", line)
    else:
        found = [n.id for n in ast.walk(tree) if isinstance(n, ast.Name)]
    return sorted(dict.fromkeys(found), key=line.find)


def closest(word: str, candidates: Iterable[str], cutoff: float = 0.6) -> str | None:
    public = [c for c in candidates if c != word and (not c.startswith("_") or word.startswith("_"))]
    found = difflib.get_close_matches(word, public, n=1, cutoff=cutoff)
    return found[0] if found else None


def python_name(kind: str, attr: str) -> str | None:
    """What Python calls ``attr``, a method as another language names it, on a builtin ``kind``
    (``push`` on a list: ``append``); None when the builtin has no such method."""
    name = _OTHER_LANGUAGES.get(attr)
    owner = getattr(builtins, kind, None) if kind in ("list", "str", "tuple", "dict") else None
    if name is None or owner is None or (name.isidentifier() and not hasattr(owner, name)):
        return None
    return name


def cause_of(facts: ErrorFacts, known: set[str], hint: str | None = None) -> str:
    """One sentence (no final full stop) on why ``facts`` happened; a plain fallback for other errors."""
    rule = RULES.get(facts.exc_type)
    scene = Scene(facts, parse_line(facts.line), {v.name: v for v in facts.variables}, known, hint)
    found = rule(scene) if rule else None
    if found:
        return found
    if facts.origin:
        return f"{facts.exc_type} was raised inside {facts.origin}, called from line {facts.lineno}"
    return f"{facts.exc_type} was raised while running line {facts.lineno}" if facts.lineno else ""


def _a(word: str) -> str:
    return f"an {word}" if word[:1].lower() in "aeiou" else f"a {word}"


def _unparse(node: ast.AST) -> str:
    return ast.unparse(node)


def literal(node: ast.AST, variables: dict[str, Variable]) -> Any:
    """The value of a literal, or of a name whose short value is a literal; ``...`` when unknown."""
    texts: list[Any] = [node]
    if isinstance(node, ast.Name) and node.id in variables and variables[node.id].value is not None:
        texts.append(variables[node.id].value)
    for text in texts:
        try:
            return ast.literal_eval(text)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            continue
    return ...


def _subscripts(tree: ast.Module | None, variables: dict[str, Variable]) -> list[tuple[Variable, ast.AST]]:
    nodes = [n for n in ast.walk(tree) if isinstance(n, ast.Subscript)] if tree else []
    return [
        (variables[n.value.id], n.slice)
        for n in nodes
        if isinstance(n.value, ast.Name) and n.value.id in variables
    ]


def _index(s: Scene) -> str | None:
    if s.facts.message.startswith("pop from empty"):
        popped = re.search(r"\b(\w+)\.pop\(", s.facts.line)
        return f"`{popped.group(1)}` is empty, so there is nothing to pop" if popped else None
    for var, node in _subscripts(s.tree, s.variables):
        size, index = var.size, literal(node, s.variables)
        if size is None or isinstance(index, (slice, tuple, str, bool)):
            continue
        if isinstance(index, int) and -size <= index < size:
            continue  # this subscript is fine: another one on the line failed
        valid = f"valid indexes 0-{size - 1} or -{size} to -1"
        valid = "it has no valid index" if size == 0 else "valid indexes 0 or -1" if size == 1 else valid
        text = f"`{var.name}` has {size} item{'' if size == 1 else 's'} ({valid})"
        if isinstance(index, int):
            shown = f"`{_unparse(node)}` = {index}" if isinstance(node, ast.Name) else str(index)
            return f"{text}; index {shown} is out of range"
        return f"{text}; the index `{_unparse(node)}` is outside that range"
    return None


def _key(s: Scene) -> str | None:
    key = s.facts.message.strip()
    candidates: list[tuple[Variable, ast.AST | None]] = [
        (v, node) for v, node in _subscripts(s.tree, s.variables) if v.keys is not None
    ]
    for name in re.findall(r"\b(\w+)\.pop\(", s.facts.line):
        if name in s.variables and s.variables[name].keys is not None:
            candidates.append((s.variables[name], None))
    if not candidates:
        return f"key {key} is not in the mapping used on this line" if key else None
    exact = [v for v, node in candidates if node is not None and repr(literal(node, s.variables)) == key]
    var = (exact or [v for v, _ in candidates])[0]
    keys = var.keys or []
    word = "column" if var.type.endswith("DataFrame") else "key"
    if not keys:
        return f"{word} {key} is not in `{var.name}`: it is empty"
    count = var.key_count
    more = f", ... ({count} in all)" if count and count > len(keys[:10]) else ""
    text = f"{word} {key} is not in `{var.name}`; its {word}s are: {', '.join(keys[:10])}{more}"
    bare = {k.strip("'\""): k for k in keys}  # quotes would make any two short keys look alike
    close = difflib.get_close_matches(key.strip("'\""), list(bare), n=1, cutoff=0.6)
    return text + (f" (did you mean {bare[close[0]]}?)" if close else "")


def _zero(s: Scene) -> str | None:
    kinds = (ast.Div, ast.FloorDiv, ast.Mod)
    divisors: list[ast.AST] = []
    for node in ast.walk(s.tree) if s.tree else []:
        if isinstance(node, ast.BinOp) and isinstance(node.op, kinds):
            divisors.append(node.right)
        elif isinstance(node, ast.AugAssign) and isinstance(node.op, kinds):
            divisors.append(node.value)
    zero = [d for d in divisors if literal(d, s.variables) == 0]
    if zero or (len(divisors) == 1 and not s.facts.origin):
        divisor = (zero or divisors)[0]
        if isinstance(divisor, ast.Constant):
            return "the divisor is the literal 0"
        return f"the divisor `{_unparse(divisor)}` is 0"
    if s.facts.origin:
        return f"a division by zero happened inside {s.facts.origin}, called from this line"
    if divisors:
        return "one of the divisors on this line is 0: " + ", ".join(f"`{_unparse(d)}`" for d in divisors)
    return None


def _name(s: Scene) -> str | None:
    missing = re.search(r"'(\w+)'", s.facts.message)
    if not missing:
        return None
    name = missing.group(1)
    if s.facts.exc_type == "UnboundLocalError":
        return f"`{name}` is assigned inside the function, so it is local there, and it is read before that"
    builtin = [b for b in dir(builtins) if b.islower() and not b.startswith("_")]
    # the suggestion from the failing frame first (a function's parameters too), then the kernel's names
    hint = s.hint if s.hint and s.hint != name else None
    close = hint or closest(name, s.known) or closest(name, builtin, cutoff=0.75)
    if close:
        if difflib.SequenceMatcher(None, name, close).ratio() >= 0.8:
            s.facts.suggestion = close  # near enough to rename it for the user (``certain_fixes``)
        return f"`{name}` is not defined in this kernel; did you mean `{close}`?"
    return (
        f"`{name}` is not defined in this kernel: run the cell that defines it first, or check the spelling"
    )


def _attribute(s: Scene) -> str | None:
    found = re.match(r"'([\w.]+)' object has no attribute '(\w+)'", s.facts.message)
    module = re.match(r"module '([\w.]+)' has no attribute '(\w+)'", s.facts.message)
    match = found or module
    if match is None:
        return None
    kind, attr = match.groups()
    users = re.findall(rf"\b(\w+)\.{attr}\b", s.facts.line)
    owner = f"`{users[0]}`" if users else "the object"
    suggestion = f"; did you mean `{s.hint}`?" if s.hint else ""
    if s.hint and difflib.SequenceMatcher(None, attr, s.hint).ratio() >= 0.8:
        s.facts.suggestion = s.hint  # one of the object's own attributes, near enough to rename
    if module:
        return f"the module `{kind}` has no attribute `{attr}`{suggestion}"
    if kind == "NoneType":
        return (
            f"{owner} is None, so it has no attribute `{attr}`: check where it was assigned ({_NONE_ORIGIN})"
        )
    python = python_name(kind, attr)
    if not suggestion and python:
        suggestion = f"; Python's name for it is `{python}`"
    return f"{owner} is {_a(kind)}, which has no attribute `{attr}`{suggestion}"


_TYPE_PATTERNS = [
    (
        r"'NoneType' object is not (subscriptable|iterable|callable)",
        "{who} None, so it cannot be used like that: check where it was assigned (" + _NONE_ORIGIN + ")",
    ),
    (
        r"unsupported operand type\(s\) for (.+): '([\w.]+)' and '([\w.]+)'",
        "`{0}` cannot combine {a1} and {a2}; convert one side first (with str(), int() or float())",
    ),
    (
        r'can only concatenate (\w+) \(not "(\w+)"\) to \w+',
        "{a0} and {a1} cannot be joined with +; convert one first",
    ),
    (r"'([\w.]+)' object is not subscriptable", "{who} {a0}, which cannot be indexed with [...]"),
    (
        r"'([\w.]+)' object is not callable",
        "{who} {a0}, not a function, so it cannot be called (a variable may hide a function of that name)",
    ),
    (
        r"'(int)' object is not iterable",
        "{who} an int, which cannot be looped over; to loop n times use range(n)",
    ),
    (r"'([\w.]+)' object is not iterable", "{who} {a0}, which cannot be looped over or unpacked"),
    (
        r"unhashable type: '([\w.]+)'",
        "{a0} can change, so it cannot be hashed: it cannot be a set member or a dict key "
        "(use a tuple or a frozenset instead)",
    ),
    (
        r"([\w.]+)\(\) missing (\d+) required (?:positional |keyword-only )?arguments?: (.+)",
        "`{0}()` was called without its required argument(s) {2}",
    ),
    (
        r"([\w.]+)\(\) takes (\d+) positional arguments? but (\d+) (?:was|were) given",
        "`{0}()` accepts {1} positional argument(s) but was given {2} (a method's `self` counts as one)",
    ),
    (r"([\w.]+)\(\) got an unexpected keyword argument '(\w+)'", "`{0}()` has no parameter named `{1}`"),
]
_VALUE_PATTERNS = [
    (r"invalid literal for int\(\) with base \d+: (.+)", "int() cannot read {0} as a whole number"),
    (r"could not convert string to float: (.+)", "float() cannot read {0} as a number"),
    (
        r"too many values to unpack \(expected (\d+)\)",
        "the value has more items than the {0} names it is unpacked into",
    ),
    (
        r"not enough values to unpack \(expected (\d+), got (\d+)\)",
        "{0} names are assigned but the value has only {1} item(s)",
    ),
    (
        r"math domain error",
        "a math function got a value outside its domain (such as the sqrt of a negative number)",
    ),
]


def _patterned(patterns: list[tuple[str, str]]) -> Rule:
    def rule(s: Scene) -> str | None:
        for pattern, template in patterns:
            match = re.match(pattern, s.facts.message)
            if match is None:
                continue
            groups = match.groups()
            typed = [
                v.name for v in s.variables.values() if groups and v.type.rsplit(".", 1)[-1] == groups[0]
            ]
            used = _used_value(s.tree, match.group(0))
            who = f"`{used}` is" if used else f"`{typed[0]}` is" if typed else "the value is"
            articles = {f"a{i}": _a(g) for i, g in enumerate(groups)}
            return template.format(*groups, who=who, **articles)
        return None

    return rule


def _used_value(tree: ast.Module | None, message: str) -> str | None:
    """The expression on the line that the message is about: the looped-over, indexed or called one."""
    nodes = list(ast.walk(tree)) if tree else []
    found: list[ast.AST] = []
    if "iterable" in message:
        found = [n.iter for n in nodes if isinstance(n, (ast.For, ast.comprehension))]
    elif "subscriptable" in message:
        found = [n.value for n in nodes if isinstance(n, ast.Subscript)]
    elif "callable" in message:
        found = [n.func for n in nodes if isinstance(n, ast.Call)]
    return _unparse(found[0]) if len(found) == 1 else None


def _recursion(s: Scene) -> str | None:
    if "recursion" not in s.facts.message:
        return None
    who = f"`{s.facts.function}()`" if s.facts.function else "a function"
    return (
        f"{who} calls itself again and again without reaching a base case that stops it, "
        "until Python's limit of about 1000 nested calls"
    )


def _stop(s: Scene) -> str | None:
    calls = re.findall(r"\bnext\((\w+)", s.facts.line)
    if not calls:
        return None
    return f"the iterator `{calls[0]}` is exhausted: `next()` found no more items in it"


def _overflow(s: Scene) -> str | None:
    return "the result is too large for a float (the largest is about 1.8e308)"


def _module(s: Scene) -> str | None:
    found = re.search(r"No module named '([\w.]+)'", s.facts.message)
    if not found:
        return None
    top = found.group(1).split(".")[0]
    typo = closest(top, [*sys.stdlib_module_names, *_POPULAR_MODULES, *_PIP_NAMES], cutoff=0.8)
    if typo:
        return f"there is no module `{top}`; did you mean `{typo}`?"
    return (
        f"the module `{found.group(1)}` is not installed in this kernel's environment; "
        f"install it with `%pip install {_PIP_NAMES.get(top, top)}` and run the import again"
    )


def _file(s: Scene) -> str | None:
    found = re.search(r"No such file or directory: (.+)$", s.facts.message)
    if not found:
        return None
    return (
        f"the file {found.group(1)} does not exist; a relative path is resolved from the kernel's "
        "working directory (normally the notebook's folder)"
    )


def _syntax(s: Scene) -> str | None:
    where = f"line {s.facts.lineno}" if s.facts.lineno else "the cell"
    return f"Python cannot parse {where} ({s.facts.message}), so none of the cell ran"


RULES: dict[str, Rule] = {
    "SyntaxError": _syntax,
    "IndentationError": _syntax,
    "TabError": _syntax,
    "IndexError": _index,
    "KeyError": _key,
    "ZeroDivisionError": _zero,
    "NameError": _name,
    "UnboundLocalError": _name,
    "AttributeError": _attribute,
    "TypeError": _patterned(_TYPE_PATTERNS),
    "ValueError": _patterned(_VALUE_PATTERNS),
    "ModuleNotFoundError": _module,
    "RecursionError": _recursion,
    "StopIteration": _stop,
    "OverflowError": _overflow,
    "FileNotFoundError": _file,
}
