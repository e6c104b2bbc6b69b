"""Showing an answer while it is generated: one display that is updated in place.

In a kernel the answer is a ``display_data`` output updated through its
display id (throttled, so a fast model does not flood the frontend); in a
terminal IPython the text is printed as it comes. The finished output carries
the answer's provenance in its metadata under ``nexus``, and under ``nexus_cell``
the part of it the notebook keeps in the cell's own ``metadata.nexus`` (model,
provider, prompt id): a kernel cannot write the notebook, so the NEXUS frontend
copies it into the cell when the output arrives.
"""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any, Literal

from .transport import AnswerEvent, Provenance

Format = Literal["markdown", "code", "text"]
UPDATE_EVERY_S = 0.1


def bundle(text: str, fmt: Format) -> dict[str, str]:
    if fmt == "text":
        return {"text/plain": text}
    if fmt == "code":
        body = text if text.lstrip().startswith("```") else f"```python\n{text.rstrip()}\n```"
        return {"text/markdown": body, "text/plain": text}
    return {"text/markdown": text, "text/plain": text}


def provenance_metadata(prov: Provenance) -> dict[str, Any]:
    """Output metadata: the whole provenance, and what the frontend copies into the cell's metadata."""
    return {"nexus": prov.as_dict(), "nexus_cell": prov.cell_metadata()}


def footer(prov: Provenance) -> str:
    secs = prov.latency_ms / 1000
    return f"{prov.provider}/{prov.model} via {prov.transport}, {secs:.1f} s, prompt {prov.prompt_hash}"


class LiveOutput:
    """One output area that shows the text so far and, at the end, the provenance line."""

    def __init__(self, shell: Any, fmt: Format = "markdown", header: str = "") -> None:
        self.in_kernel = hasattr(shell, "kernel")
        self.fmt = fmt
        self.header = header  # shown above the answer from the start (facts known before the model)
        self.header_printed = False
        self.display_id = uuid.uuid4().hex
        self.text = ""
        self.shown = False
        self.last_update = 0.0
        self.printed = 0

    def _publish(self, text: str, metadata: dict[str, Any] | None = None, final: bool = False) -> None:
        from IPython.display import display, update_display

        data = {kind: self.header + body for kind, body in bundle(text, self.fmt).items()}
        if not self.shown:
            display(data, raw=True, metadata=metadata or {}, display_id=self.display_id)
            self.shown = True
        else:
            update_display(data, raw=True, metadata=metadata or {}, display_id=self.display_id)

    def start(self) -> None:
        """Show the header at once, while the model is still loading or thinking."""
        if not self.header:
            return
        if self.in_kernel:
            self._publish(" ▍")
        else:
            print(self.header, end="", flush=True)
            self.header_printed = True

    def feed(self, event: AnswerEvent) -> None:
        if event.kind == "restart":
            self.text = ""
            if not self.in_kernel:
                print("\n[the model failed; restarting the answer with the next one]", flush=True)
                self.printed = 0
        elif event.kind == "delta":
            self.text += event.text
        if not self.in_kernel:
            if self.header and not self.header_printed:
                print(self.header, end="", flush=True)
                self.header_printed = True
            print(self.text[self.printed :], end="", flush=True)
            self.printed = len(self.text)
            return
        now = time.monotonic()
        if now - self.last_update >= UPDATE_EVERY_S or event.kind == "restart":
            self.last_update = now
            self._publish(self.text + ("" if event.kind == "restart" else " ▍"))

    def finish(self, text: str, prov: Provenance) -> None:
        self.text = text
        meta = provenance_metadata(prov)
        if not self.in_kernel:
            if self.header and not self.header_printed:
                print(self.header, end="", flush=True)
                self.header_printed = True
            print(self.text[self.printed :], flush=True)
            print(f"-- {footer(prov)}", file=sys.stderr, flush=True)
            return
        shown = self.text if self.fmt == "text" else f"{self.text}\n\n<sub>{footer(prov)}</sub>"
        self._publish(shown, meta, final=True)


def play(events: Iterator[AnswerEvent], out: LiveOutput) -> tuple[str, Provenance]:
    """Feed every event to ``out``; returns the final text and provenance."""
    for event in events:
        if event.kind == "done":
            assert event.provenance is not None
            out.finish(event.text, event.provenance)
            return event.text, event.provenance
        out.feed(event)
    raise RuntimeError("the answer ended without a final event")
