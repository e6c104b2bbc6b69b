"""A progress bar in the notebook for magics that take a while (``%nexus learn``).

One output that updates in place (an IPython display handle): an HTML
``<progress>`` bar for JupyterLab and a text bar for terminals and saved
notebooks. Updates are throttled, so a fast loop does not flood the frontend.
"""

from __future__ import annotations

import html
import time
from types import TracebackType
from typing import Any

WIDTH = 30  # characters of the text bar
MIN_INTERVAL_S = 0.2


class ProgressBar:
    """``with ProgressBar("Learning docs") as bar: bar.update(done, total, message)``."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.done = 0
        self.total: int | None = None
        self.message = ""
        self.state = "running"  # running | done | failed
        self._handle: Any = None
        self._shown_at = 0.0

    def __enter__(self) -> ProgressBar:
        from IPython.display import display

        self._handle = display(self._bundle(), raw=True, display_id=True)
        self._shown_at = time.monotonic()
        return self

    def update(self, done: int, total: int | None, message: str = "") -> None:
        self.done, self.total, self.message = done, total, message
        if time.monotonic() - self._shown_at >= MIN_INTERVAL_S:
            self._show()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.state = "failed" if kind is not None else "done"
        if kind is None and self.total:
            self.done = self.total
        self.message = "" if kind is None else (str(exc).splitlines() or [""])[0]
        self._show()

    def _show(self) -> None:
        self._shown_at = time.monotonic()
        if self._handle is not None:
            self._handle.update(self._bundle(), raw=True)

    @property
    def fraction(self) -> float | None:
        return None if not self.total else min(1.0, self.done / self.total)

    def _bundle(self) -> dict[str, str]:
        fraction = self.fraction
        counts = f"{self.done}/{self.total}" if self.total else ""
        status = {"done": "done", "failed": "failed"}.get(self.state, counts)
        tail = f" {self.message}" if self.message else ""
        filled = round(WIDTH * (fraction or 0.0))
        text = f"{self.label} [{'#' * filled}{'-' * (WIDTH - filled)}] {status}{tail}"
        value = "" if fraction is None else f' value="{fraction:.3f}"'
        markup = (
            f'<div class="nexus-progress" data-state="{self.state}">'
            f"<span>{html.escape(self.label)}</span> "
            f'<progress max="1"{value} style="width:16em;vertical-align:middle"></progress> '
            f"<span>{html.escape(status + tail)}</span></div>"
        )
        return {"text/plain": text, "text/html": markup}
