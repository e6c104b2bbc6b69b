"""Text-stream guards every engine backend shares: stop sequences, loop detection, incremental decoding.

Why here and not in each backend: a stop sequence can straddle two tokens and
a weak model's loop spans many, so both are properties of the *text* stream,
not of how a backend produces tokens. Keeping them in one place makes the
llama.cpp, transformers and batched backends stop at exactly the same text.
"""

from __future__ import annotations

import re
from typing import Any

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n")


class StopScanner:
    """Cuts the stream at the first stop sequence, holding back text that may be the start of one."""

    def __init__(self, stops: list[str]) -> None:
        self.stops = [s for s in stops if s]
        self.held = ""

    def feed(self, text: str) -> tuple[str, bool]:
        """(text safe to show now, True when a stop sequence was reached)."""
        buffer = self.held + text
        if not self.stops:
            return buffer, False
        found = [i for i in (buffer.find(s) for s in self.stops) if i >= 0]
        if found:
            self.held = ""
            return buffer[: min(found)], True
        keep = 0
        for stop in self.stops:
            for size in range(min(len(stop) - 1, len(buffer)), keep, -1):
                if buffer.endswith(stop[:size]):
                    keep = size
                    break
        self.held = buffer[len(buffer) - keep :] if keep else ""
        return buffer[: len(buffer) - keep], False

    def flush(self) -> str:
        held, self.held = self.held, ""
        return held


class RepetitionGuard:
    """Detects a model stuck in a loop, so generation stops instead of running to the token limit.

    Small models at temperature 0 often repeat one sentence or paragraph until
    ``max_tokens``. The guard looks at completed units only: a paragraph of at
    least ``min_paragraph`` characters that already appeared, or a block of one to
    three sentences/lines repeated ``repeats`` times in a row. Code legitimately
    repeats short lines (``return x``), hence the minimum lengths.
    """

    def __init__(self, min_paragraph: int = 40, min_block: int = 24, repeats: int = 3) -> None:
        self.min_paragraph = min_paragraph
        self.min_block = min_block
        self.repeats = repeats
        self.text = ""
        self.paragraphs: set[str] = set()
        self.units: list[str] = []
        self._unit_tail = ""
        self._para_tail = ""

    def feed(self, text: str) -> bool:
        """Add generated text; True when the model is looping."""
        self.text += text
        return self._paragraph_loop(text) or self._unit_loop(text)

    def _paragraph_loop(self, text: str) -> bool:
        self._para_tail += text
        *done, self._para_tail = self._para_tail.split("\n\n")
        for paragraph in done:
            key = " ".join(paragraph.split())
            if len(key) < self.min_paragraph:
                continue
            if key in self.paragraphs:
                return True
            self.paragraphs.add(key)
        return False

    def _unit_loop(self, text: str) -> bool:
        self._unit_tail += text
        parts = _SENTENCE_END.split(self._unit_tail)
        self._unit_tail = parts.pop()
        self.units += [u for u in (" ".join(p.split()) for p in parts) if u]
        for period in (1, 2, 3):
            span = period * self.repeats
            if len(self.units) < span:
                break
            block = self.units[-period:]
            if sum(len(u) for u in block) < self.min_block:
                continue
            if all(self.units[-span + i] == block[i % period] for i in range(span)):
                return True
        return False


class IncrementalDecoder:
    """Turns token ids into text as they arrive without re-decoding the whole answer each step.

    It decodes a short window (from the last completed word boundary), which keeps
    multi-token characters and tokenizers that merge spaces right, in O(window)
    per token instead of O(answer).
    """

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self.ids: list[int] = []
        self.prefix = 0  # start of the window being decoded
        self.read = 0  # ids already turned into text

    def push(self, ids: list[int]) -> str:
        self.ids.extend(ids)
        decode = self.tokenizer.decode
        before = decode(self.ids[self.prefix : self.read], skip_special_tokens=True)
        after = decode(self.ids[self.prefix :], skip_special_tokens=True)
        if len(after) > len(before) and not after.endswith("\ufffd"):  # not half a UTF-8 character
            self.prefix, self.read = self.read, len(self.ids)
            return after[len(before) :]
        return ""
