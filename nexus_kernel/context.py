"""What a magic sends along with a prompt: interpolated variables and the last exception.

``{name}`` in a prompt is replaced by the value of ``name`` in the notebook
(``{{`` and ``}}`` are literal braces); an unknown name is an error rather
than a silently literal brace, because a typo would otherwise reach the model.
For ``%nexus fix`` and ``%nexus explain`` an exception becomes an ``ErrorReport``:
its facts (``nexus_server_ext.diagnosis``, the one Explain / Fix service: the
failing line, the values on it, the cause, and a certain fix where the facts
settle it), the cell's code and the traceback without colours.
"""

from __future__ import annotations

import re
import sys
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from nexus_server_ext.diagnosis.facts import ErrorFacts, from_exception, is_user_file
from nexus_server_ext.diagnosis.service import Diagnosed, diagnose

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
    """An exception reduced to what an explanation or a fix needs: its facts and its traceback."""

    facts: ErrorFacts
    traceback: str

    @property
    def summary(self) -> str:
        return self.facts.summary  # "ZeroDivisionError: division by zero"

    def diagnose(self, *, fix: bool = False) -> Diagnosed:
        """The Explain / Fix service's diagnosis (with ``fix``: the certain fix, if the facts settle it)."""
        return diagnose(self.facts, fix=fix)

    def as_context(self) -> dict[str, str]:
        """The facts first (a small model follows them), then the traceback for the details."""
        return {"code": self.facts.cell, "error": self.diagnose().model_context(self.traceback)}


def last_error(exc: BaseException | None = None) -> ErrorReport | None:
    """``exc``, or else the exception the last failing cell raised (IPython keeps it in ``sys.last_*``)."""
    if exc is None:
        exc = getattr(sys, "last_exc", None) or getattr(sys, "last_value", None)
    if exc is None or not isinstance(exc, BaseException):
        return None
    tb = exc.__traceback__
    frames = [t for t in _tracebacks(tb) if is_user_file(t.tb_frame.f_code.co_filename)]
    text = "".join(traceback.format_exception(type(exc), exc, frames[0] if frames else tb))
    return ErrorReport(from_exception(exc), text)


def _tracebacks(tb: TracebackType | None) -> Iterator[TracebackType]:
    """The traceback's entries, outermost first (IPython's own frames come before the cell's)."""
    while tb is not None:
        yield tb
        tb = tb.tb_next
