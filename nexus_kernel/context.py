"""What a magic sends along with a prompt: interpolated variables and the last exception.

``{name}`` in a prompt is replaced by the value of ``name`` in the notebook
(``{{`` and ``}}`` are literal braces); an unknown name is an error rather
than a silently literal brace, because a typo would otherwise reach the model.
For ``%nexus fix`` the last exception is reduced to what a model can use: the
failing line, the cell's code, the traceback without colours, and the values
of the variables that line touched.
"""

from __future__ import annotations

import ast
import linecache
import re
import sys
import traceback
from dataclasses import dataclass, field
from typing import Any

_FIELD = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)\}")
MAX_VALUE_CHARS = 2000


class InterpolationError(ValueError):
    pass


def short_repr(value: Any, limit: int = MAX_VALUE_CHARS) -> str:
    try:
        text = repr(value)
    except Exception as exc:  # a broken __repr__ must not break the magic
        text = f"<{type(value).__name__} (repr failed: {type(exc).__name__})>"
    return text if len(text) <= limit else text[: limit - 20] + f"... ({len(text)} chars)"


def interpolate(template: str, namespace: dict[str, Any]) -> str:
    """Replace ``{name}`` / ``{name.attr}`` with the value (``str`` for strings, ``repr`` otherwise)."""

    def value(match: re.Match[str]) -> str:
        token = match.group(0)
        if token in ("{{", "}}"):
            return token[0]
        head, *attrs = match.group(1).split(".")
        if head not in namespace:
            raise InterpolationError(
                f"{{{head}}} is not defined in this notebook (write {{{{ and }}}} for literal braces)"
            )
        obj = namespace[head]
        for attr in attrs:
            try:
                obj = getattr(obj, attr)
            except AttributeError:
                raise InterpolationError(f"{{{match.group(1)}}}: {head} has no attribute {attr!r}") from None
        return obj if isinstance(obj, str) else short_repr(obj)

    return _FIELD.sub(value, template)


@dataclass
class ErrorReport:
    """The last exception, reduced to what a fix needs."""

    summary: str  # "ZeroDivisionError: division by zero"
    traceback: str
    line: str = ""
    lineno: int | None = None
    code: str = ""
    variables: dict[str, str] = field(default_factory=dict)

    def as_context(self) -> dict[str, str]:
        parts = [self.traceback.rstrip()]
        if self.line:
            parts.append(f"The failing line ({self.lineno}): {self.line}")
        if self.variables:
            parts.append(
                "Variables on that line: " + ", ".join(f"{k} = {v}" for k, v in self.variables.items())
            )
        return {"code": self.code, "error": "\n".join(parts)}


def _is_user_frame(filename: str) -> bool:
    """Cells are compiled under names like ``<ipython-input-3-...>`` or ``/tmp/ipykernel_12/3456.py``."""
    return filename.startswith("<ipython-input") or "ipykernel_" in filename or filename.startswith("<cell")


def last_error() -> ErrorReport | None:
    """The exception the last failing cell raised (IPython keeps it in ``sys.last_*``), or None."""
    exc = getattr(sys, "last_exc", None) or getattr(sys, "last_value", None)
    if exc is None or not isinstance(exc, BaseException):
        return None
    tb = exc.__traceback__
    text = "".join(traceback.format_exception(type(exc), exc, tb))
    frames = list(traceback.walk_tb(tb))
    user = [(f, n) for f, n in frames if _is_user_frame(f.f_code.co_filename)]
    frame, lineno = (user or frames)[-1] if frames else (None, None)
    report = ErrorReport(f"{type(exc).__name__}: {exc}", text)
    if frame is None or lineno is None:
        return report
    filename = frame.f_code.co_filename
    report.lineno = lineno
    report.line = linecache.getline(filename, lineno).strip()
    report.code = "".join(linecache.getlines(filename))
    names: set[str] = set()
    try:
        names = {n.id for n in ast.walk(ast.parse(report.line)) if isinstance(n, ast.Name)}
    except SyntaxError:  # a line that is part of a longer statement
        names = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", report.line))
    scope = {**frame.f_globals, **frame.f_locals}
    for name in sorted(names):
        if name in scope and not callable(scope[name]) and not name.startswith("__"):
            report.variables[name] = short_repr(scope[name], 200)
    return report
