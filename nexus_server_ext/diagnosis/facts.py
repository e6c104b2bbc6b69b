"""What an error is, computed without a model: type, message, the failing line in the user's cell,
the values on that line, and a one-sentence cause for the common errors.

A small model asked to explain ``x[10]`` may describe "a list of ten integers"; it does not count ``x``.
These facts are shown before the model's prose and given to the model as ground truth. Two sources:
an exception object inside the kernel (``from_exception``) and, on the server, the kernel's traceback
text plus its variable summaries (``from_traceback_text``). Standard library only: the kernel imports
this module too.
"""

from __future__ import annotations

import linecache
import re
import reprlib
import traceback
from collections.abc import Iterable, Mapping, Sized
from dataclasses import dataclass, field
from typing import Any

from .causes import cause_of, closest, names_on

__all__ = ["ErrorFacts", "Variable", "from_exception", "from_traceback_text", "is_user_file", "names_on"]

_SHORT = reprlib.Repr()
_SHORT.maxlist = _SHORT.maxtuple = _SHORT.maxset = _SHORT.maxdict = 6
_SHORT.maxstring, _SHORT.maxother = 40, 60
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
# Python's traceback, then IPython's (the notebook's error output): a cell frame and a library frame.
_FRAME = re.compile(r'^\s*File "(?P<file>[^"]+)", line (?P<line>\d+)(?:, in (?P<func>\S+))?')
_CELL_FRAME = re.compile(r"^\s*(?P<file>Cell In\[\d+\]), line (?P<line>\d+)(?:, in (?P<func>\w+))?")
_LIB_FRAME = re.compile(r"^File (?P<file>.+?):(?P<line>\d+)(?:, in (?P<func>[\w.]+))?")
_MARKED = re.compile(r"^-*>\s*\d+\s?(?P<src>.*)$")  # IPython's "----> 3 code" arrow
_SUGGESTION = re.compile(r"\. Did you mean: '?([\w.]+)'?\?$")


def is_user_file(filename: str) -> bool:
    """Cells are compiled under names like ``/tmp/ipykernel_12/3456.py`` or ``<ipython-input-3-...>``."""
    return "ipykernel_" in filename or filename.startswith(("<ipython-input", "<cell", "Cell In["))


def short_value(value: Any) -> str:
    try:
        return _SHORT.repr(value)
    except Exception as exc:  # a broken __repr__ must not hide the error being explained
        return f"<{type(value).__name__} (repr failed: {type(exc).__name__})>"


@dataclass
class Variable:
    """One name on the failing line, as the kernel holds it."""

    name: str
    type: str
    len: int | None = None
    shape: tuple[Any, ...] | None = None
    value: str | None = None  # a short repr
    keys: list[str] | None = None  # a mapping's keys or a DataFrame's columns, as reprs

    @classmethod
    def of(cls, name: str, value: Any) -> Variable:
        t = type(value)
        qualified = t.__qualname__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__qualname__}"
        var = cls(name, qualified, value=short_value(value))
        shape = getattr(value, "shape", None)
        if isinstance(shape, tuple):
            var.shape = shape
        elif isinstance(value, Sized):
            try:
                var.len = len(value)
            except Exception:  # a broken __len__ is not worth a second error
                var.len = None
        if isinstance(value, Mapping):
            var.keys = [short_value(k) for _, k in zip(range(20), value, strict=False)]
        elif hasattr(value, "columns") and hasattr(value, "dtypes"):
            var.keys = [short_value(c) for c in list(value.columns)[:20]]
        return var

    @classmethod
    def from_summary(cls, item: Mapping[str, Any]) -> Variable:
        """From ``kernel_state``'s summary of a variable."""
        shape = item.get("shape")
        keys = item.get("keys")
        if keys is None and item.get("columns"):
            keys = [repr(c) for c in item["columns"]]
        return cls(
            str(item["name"]),
            str(item["type"]),
            item.get("len"),
            tuple(shape) if shape else None,
            item.get("value"),
            keys,
        )

    @property
    def size(self) -> int | None:
        if self.len is not None:
            return self.len
        return int(self.shape[0]) if self.shape and isinstance(self.shape[0], int) else None

    @property
    def key_count(self) -> int | None:
        """How many keys it has: a DataFrame's columns (its second dimension, not its rows), else
        its length."""
        if self.type.endswith("DataFrame") and self.shape and len(self.shape) > 1:
            columns = self.shape[1]
            return int(columns) if isinstance(columns, int) else None
        return self.len

    def describe(self) -> str:
        """``list, len 3``: the type and size, without the value."""
        if self.shape is not None:
            return f"{self.type}, shape {tuple(self.shape)}"
        return f"{self.type}, len {self.len}" if self.len is not None else self.type


@dataclass
class ErrorFacts:
    """The exception, where it happened in the user's cell, and the values involved."""

    exc_type: str
    message: str
    lineno: int | None = None
    line: str = ""
    function: str | None = None  # the user frame's function, when not the cell's top level
    origin: str | None = None  # the library frame below the user's line that raised, if any
    variables: list[Variable] = field(default_factory=list)
    cause: str = ""
    cell: str = ""  # the failing cell's source, when known
    suggestion: str | None = None  # for a NameError: the defined name it is surely a misspelling of

    @property
    def summary(self) -> str:
        return f"{self.exc_type}: {self.message}" if self.message else self.exc_type

    def render_markdown(self) -> str:
        """A short block: the error and its line, the cause, the values on that line."""
        head = f"**{self.exc_type}**" + (f": {_escape(self.message)}" if self.message else "")
        if self.lineno is not None:
            inside = f" in `{self.function}()`" if self.function else ""
            head += f" - line {self.lineno}{inside}" + (f": {_code(self.line)}" if self.line else "")
        blocks = [head]
        if self.cause:
            blocks.append(f"Cause: {_sentence(self.cause)}")
        if self.variables:
            shown = [
                f"`{v.name}` ({v.describe()})" + (f" = {_code(v.value)}" if v.value is not None else "")
                for v in self.variables
            ]
            blocks.append("On that line: " + "; ".join(shown))
        return "\n\n".join(blocks)

    def prompt_text(self) -> str:
        """The facts as the model is told them: exact, so that it explains instead of guessing."""
        lines = [
            "Facts about the error (computed from the kernel; they are correct):",
            f"- Error: {self.summary}",
        ]
        if self.lineno is not None:
            lines.append(f"- Failing line {self.lineno} of the cell: {self.line}")
        if self.origin:
            lines.append(f"- Raised inside {self.origin}, called from that line")
        for v in self.variables:
            lines.append(
                f"- {v.name}: {v.describe()}" + (f", value {v.value}" if v.value is not None else "")
            )
        if self.cause:
            lines.append(f"- Cause: {_sentence(self.cause.replace('`', ''))}")
        return "\n".join(lines)


def _sentence(text: str) -> str:
    return text if text.endswith((".", "?", "!")) else text + "."


def _code(text: str) -> str:
    return f"`` {text} ``" if "`" in text else f"`{text}`"


def _escape(text: str) -> str:
    return re.sub(r"([\\*<`])", r"\\\1", text)


def _short_path(filename: str) -> str:
    for marker in ("site-packages/", "dist-packages/"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return "/".join(filename.replace("\\", "/").split("/")[-2:])


# -- from a live exception ---------------------------------------------------------------------------
def from_exception(exc: BaseException, names: Iterable[str] | None = None) -> ErrorFacts:
    """Facts from a live exception (in the kernel: ``sys.last_value`` or a cell's ``error_in_exec``).

    ``names``: what the kernel defines, for "did you mean"; by default the failing frame's names.
    """
    message = (exc.msg or "") if isinstance(exc, SyntaxError) else str(exc)
    facts = ErrorFacts(type(exc).__name__, message)
    frames = list(traceback.walk_tb(exc.__traceback__))
    user = [i for i, (f, _) in enumerate(frames) if is_user_file(f.f_code.co_filename)]
    scope: dict[str, Any] = {}
    if isinstance(exc, SyntaxError) and exc.lineno and is_user_file(exc.filename or ""):
        facts.lineno, facts.line = exc.lineno, (exc.text or "").strip()
        facts.cell = "".join(linecache.getlines(exc.filename or ""))
    elif frames:
        index = user[-1] if user else len(frames) - 1
        frame, lineno = frames[index]
        filename = frame.f_code.co_filename
        facts.lineno, facts.line = lineno, linecache.getline(filename, lineno).strip()
        facts.cell = "".join(linecache.getlines(filename))
        if frame.f_code.co_name != "<module>":
            facts.function = frame.f_code.co_name
        if index < len(frames) - 1:
            deepest = frames[-1][0].f_code
            facts.origin = f"{_short_path(deepest.co_filename)}, in {deepest.co_name}"
        scope = {**frame.f_globals, **frame.f_locals}
    for name in names_on(facts.line):
        if name in scope and not name.startswith("__") and _is_data(scope[name]):
            facts.variables.append(Variable.of(name, scope[name]))
    hint = None
    if (
        isinstance(exc, AttributeError)
        and getattr(exc, "name", None)
        and getattr(exc, "obj", None) is not None
    ):
        hint = closest(str(exc.name), dir(exc.obj))
    known = set(names) if names is not None else set(scope)
    facts.cause = cause_of(facts, known, hint)
    return facts


def _is_data(value: Any) -> bool:
    return not callable(value) and type(value).__name__ != "module"


# -- from traceback text ----------------------------------------------------------------------------
def _frame_match(line: str) -> re.Match[str] | None:
    return _FRAME.match(line) or _CELL_FRAME.match(line) or _LIB_FRAME.match(line)


def _frame_source(lines: list[str]) -> str:
    """The failing source line among the lines that follow a frame header."""
    source = ""
    for follow in lines:
        if _frame_match(follow) or not follow.strip():
            break
        marked = _MARKED.match(follow.strip())
        if marked:
            return marked.group("src").strip()
        if not source and follow.startswith("    ") and follow.strip().strip("~^ "):
            source = follow.strip()
    return source


def from_traceback_text(
    text: str,
    variables: Iterable[Mapping[str, Any]] = (),
    names: Iterable[str] = (),
    hint: str | None = None,
) -> ErrorFacts | None:
    """Facts from a formatted traceback (Python's or IPython's) and the kernel's variable summaries.

    ``names``: what the kernel defines; ``hint``: the kernel's "did you mean" for an AttributeError.
    None when the text holds no exception line.
    """
    lines = _ANSI.sub("", text).rstrip().splitlines()
    starts = [i for i, line in enumerate(lines) if "Traceback (most recent call last)" in line]
    lines = lines[starts[-1] if starts else 0 :]  # a chained error: the last one is what the user saw
    frames: list[tuple[str, int, str | None, str]] = []  # file, line, function, source
    after_frames = 0
    for i, line in enumerate(lines):
        match = _frame_match(line)
        if match:
            source = _frame_source(lines[i + 1 : i + 40])
            frames.append((match.group("file"), int(match.group("line")), match.group("func"), source))
            after_frames = i + 1
    body = [
        line
        for line in lines[after_frames:]
        if line.strip() and not line.startswith(" ") and not _MARKED.match(line)
    ]
    body = [line for line in body if "Traceback (most recent call last)" not in line]
    if not body:
        return None
    exc_type, _, message = body[0].partition(":")
    if not re.fullmatch(r"[A-Za-z_][\w.]*", exc_type):
        return None
    message = "\n".join([message.strip(), *body[1:]]).strip()
    suggested = _SUGGESTION.search(message)
    if suggested:
        hint, message = hint or suggested.group(1), message[: suggested.start()]
    facts = ErrorFacts(exc_type.rsplit(".", 1)[-1], message)
    if frames:
        user = [i for i, frame in enumerate(frames) if is_user_file(frame[0])]
        index = user[-1] if user else len(frames) - 1
        _, facts.lineno, function, facts.line = frames[index]
        facts.function = function if function and function != "<module>" else None
        if index < len(frames) - 1:
            facts.origin = f"{_short_path(frames[-1][0])}, in {frames[-1][2]}"
    summaries = {str(v["name"]): v for v in variables}
    facts.variables = [Variable.from_summary(summaries[n]) for n in names_on(facts.line) if n in summaries]
    facts.cause = cause_of(facts, set(names) | set(summaries), hint)
    return facts
