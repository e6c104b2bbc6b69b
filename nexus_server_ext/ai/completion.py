"""Inline completion that is right or silent: what the model is shown, what is kept, and the gate.

A wrong suggestion costs a user more than none: it has to be read, judged and dismissed. So:

- the prompt is the notebook as the model would have seen code in training: the earlier cells, then
  the cell up to the cursor; with the text after the cursor in the model's own fill-in-the-middle
  template where it has one (``fim.py``, laid out by the engine);
- a trailing space is taken off the prompt: a BPE model's words carry their leading space, so a
  prompt ending in one is text it has hardly seen (the bundled model then writes ``return 0 in n``
  for ``def is_even(n):\\n    return ``; without the space, ``n % 2 == 0``);
- a cursor after code on its line gets the rest of that line, and one on an empty line the block;
- the gate: the probability the model gave the tokens it kept (``confidence``), against a threshold
  measured per model on ``bench/quality/completion.yaml`` (``bench/quality.py --completion``). Below
  it the suggestion is suppressed: an empty completion, recorded with outcome ``suppressed``. A model
  that reports no probabilities (remote APIs, the transformers backend) is not gated.

The gate lives in the routing file's ``completion`` task (``gate: {enabled, min_confidence, models}``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .postprocess import PYTHON_NAMES, clean_completion
from .types import TokenLogprob

__all__ = ["CompletionGate", "CompletionPrompt", "completion_prompt", "confidence"]

CONTEXT_CHARS = 2000  # of the earlier cells, the most recent first
PREFIX_CHARS = 4000  # of the cell before the cursor
# Inline completion stops where the cursor's block ends: every token not generated is latency saved.
LINE_STOP = ["\n"]
BLOCK_STOP = ["\n\n"]


@dataclass(frozen=True)
class CompletionPrompt:
    """What the model is asked to continue, and how its answer is read back."""

    text: str  # the earlier cells and the cell up to the cursor (the FIM prefix)
    suffix: str  # the cell after the cursor (the FIM suffix)
    stop: list[str]
    healed: str  # taken off the end of ``text``: the model writes it back, and it is dropped again
    prefix: str  # the cell up to the cursor, as the editor has it

    @property
    def block(self) -> bool:
        """The cursor is on a line of its own: a body, not the rest of a line, is wanted."""
        return self.stop == BLOCK_STOP

    def clean(self, raw: str) -> str:
        """The part of the model's text that belongs at the cursor (``postprocess.clean_completion``)."""
        text = raw[len(self.healed) :] if self.healed and raw.startswith(self.healed) else raw
        text = clean_completion(text, self.prefix, self.suffix)
        if self.block:
            text = _within_block(text, self.prefix)
        return text


def completion_prompt(
    prefix: str,
    suffix: str = "",
    *,
    cells: Sequence[str] = (),
    path: str | None = None,
    language: str = "python",
) -> CompletionPrompt:
    """The prompt for a completion at the end of ``prefix``, after the notebook's earlier ``cells``."""
    python = language.lower() in PYTHON_NAMES
    header = f"# {path}\n" if path and python else ""
    text = header + _earlier(cells) + prefix[-PREFIX_CHARS:]
    healed = " " if text.endswith(" ") else ""
    line = prefix.rsplit("\n", 1)[-1]
    rest_of_line = suffix.split("\n", 1)[0]
    stop = LINE_STOP if line.strip() or rest_of_line.strip() else BLOCK_STOP
    return CompletionPrompt(text[: len(text) - len(healed)], suffix, stop, healed, prefix)


def _earlier(cells: Sequence[str]) -> str:
    """The earlier cells, oldest first, as many of the most recent as fit in ``CONTEXT_CHARS``."""
    kept: list[str] = []
    room = CONTEXT_CHARS
    for cell in reversed([c.strip("\n") for c in cells if c.strip()]):
        if len(cell) + 2 > room:
            break
        kept.append(cell)
        room -= len(cell) + 2
    return "".join(f"{cell}\n\n" for cell in reversed(kept))


def _within_block(text: str, prefix: str) -> str:
    """A body ends at the first line indented less than the cursor's line (the code after the block)."""
    indent = len(prefix.rsplit("\n", 1)[-1])
    lines = text.split("\n")
    for i, line in enumerate(lines[1:], start=1):
        if line.strip() and len(line) - len(line.lstrip()) < indent:
            return "\n".join(lines[:i]).rstrip()
    return text


def confidence(tokens: Sequence[TokenLogprob] | None, raw: str, kept: str) -> float | None:
    """How sure the model was of what is shown: the probability it gave the least likely of the tokens
    that wrote ``kept`` (tokens cut away by the clean-up do not count). None when the model reported
    no probabilities, or nothing is kept.

    The least likely token, not the mean: one unsure name (``sum(data)`` where the list is ``scores``)
    makes a suggestion wrong however sure the rest is. On the quality set the minimum separated right
    from wrong better (13 right of 16 shown at the gate's threshold, against 9 of 11 for the mean)."""
    if tokens is None or not kept.strip():
        return None
    start = raw.find(kept)
    start, end = (0, len(raw)) if start < 0 else (start, start + len(kept))
    chosen: list[float] = []
    at = 0
    for token in tokens:
        if at < end and at + len(token.text) > start:
            chosen.append(token.logprob)
        at += len(token.text)
    if not chosen:
        return None
    return math.exp(min(chosen))


@dataclass(frozen=True)
class CompletionGate:
    """Suppress suggestions the model itself was unsure of; thresholds per model (chain-step name)."""

    enabled: bool = False
    min_confidence: float = 0.0  # for models not in ``models``
    models: Mapping[str, float] = field(default_factory=dict)

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any] | None) -> CompletionGate:
        """The routing file's ``tasks.completion.gate``; none: no gate."""
        if not spec:
            return cls()
        return cls(
            enabled=bool(spec.get("enabled", True)),
            min_confidence=float(spec.get("min_confidence", 0.0)),
            models={str(k): float(v) for k, v in (spec.get("models") or {}).items()},
        )

    def threshold(self, model: str) -> float:
        return self.models.get(model, self.min_confidence)

    def shows(self, model: str, score: float | None) -> bool:
        """False: the suggestion is suppressed. A model that gave no probabilities is not gated."""
        if not self.enabled or score is None:
            return True
        return score >= self.threshold(model)
