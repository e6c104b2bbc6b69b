"""Fill-in-the-middle: which template a model was trained with, read from its own vocabulary.

A code model trained to fill the middle sees the text before the cursor, the text after it and
then writes what goes between, marked by three special tokens. The markers differ per family, so
they are found in the GGUF: its metadata names them (``tokenizer.ggml.fim_pre_token_id``, ...) in
files converted by a recent llama.cpp; older files only have them in the vocabulary, under one of
the known spellings below. A model with none (the bundled SmolLM2) continues a plain prompt.
Only the prefix-suffix-middle order is used: every family below was trained with it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["KNOWN_TEMPLATES", "FimTemplate", "FimTokens", "fim_tokens", "gguf_fim_tokens"]


@dataclass(frozen=True)
class FimTemplate:
    """The spelling of one family's three markers."""

    family: str
    prefix: str
    suffix: str
    middle: str


KNOWN_TEMPLATES = (
    FimTemplate("qwen2.5-coder / codegemma", "<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>"),
    FimTemplate("starcoder", "<fim_prefix>", "<fim_suffix>", "<fim_middle>"),
    FimTemplate("santacoder", "<fim-prefix>", "<fim-suffix>", "<fim-middle>"),
    # DeepSeek-Coder spells its markers with full-width vertical bars and a lower one-eighth block
    FimTemplate(
        "deepseek-coder",
        "<\uff5cfim\u2581begin\uff5c>",
        "<\uff5cfim\u2581hole\uff5c>",
        "<\uff5cfim\u2581end\uff5c>",
    ),
    FimTemplate("codellama", "▁<PRE>", "▁<SUF>", "▁<MID>"),
    FimTemplate("codellama", "<PRE>", "<SUF>", "<MID>"),
)

# GGUF metadata keys naming the markers: the current ones, then the older ones.
_METADATA_KEYS = (
    ("tokenizer.ggml.fim_pre_token_id", "tokenizer.ggml.fim_suf_token_id", "tokenizer.ggml.fim_mid_token_id"),
    ("tokenizer.ggml.prefix_token_id", "tokenizer.ggml.suffix_token_id", "tokenizer.ggml.middle_token_id"),
)


@dataclass(frozen=True)
class FimTokens:
    """A model's three marker token ids, and where they were found (for ``/models`` and the logs)."""

    family: str
    prefix: int
    suffix: int
    middle: int

    def arrange(self, before: list[int], after: list[int]) -> list[int]:
        """The prompt: prefix marker, the text before the cursor, suffix marker, the text after it,
        middle marker (the model writes the middle next)."""
        return [self.prefix, *before, self.suffix, *after, self.middle]


def _as_id(value: Any) -> int | None:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if number >= 0 else None


def fim_tokens(metadata: Mapping[str, Any], token_id: Callable[[str], int | None]) -> FimTokens | None:
    """The model's FIM markers: those its GGUF metadata names, else a known template in its vocabulary.

    ``metadata``: the GGUF's key/values (llama-cpp-python's ``Llama.metadata``, or read with the
    ``gguf`` package); ``token_id(text)``: the id of the one vocabulary token spelled ``text``, or None.
    None: the model has no FIM template, and completion uses a plain prompt."""
    for keys in _METADATA_KEYS:
        ids = [_as_id(metadata.get(key)) for key in keys]
        if all(i is not None for i in ids):
            prefix, suffix, middle = (int(i) for i in ids if i is not None)
            return FimTokens("gguf metadata", prefix, suffix, middle)
    for template in KNOWN_TEMPLATES:
        ids = [token_id(text) for text in (template.prefix, template.suffix, template.middle)]
        if all(i is not None for i in ids):
            prefix, suffix, middle = (int(i) for i in ids if i is not None)
            return FimTokens(template.family, prefix, suffix, middle)
    return None


def gguf_fim_tokens(path: str | Path) -> FimTokens | None:
    """The FIM markers of a GGUF file, read with the ``gguf`` package without loading the model."""
    from gguf import GGUFReader

    reader = GGUFReader(str(path))
    tokens = reader.fields.get("tokenizer.ggml.tokens")
    vocabulary = {str(t): i for i, t in enumerate(tokens.contents())} if tokens is not None else {}
    keys = {key for group in _METADATA_KEYS for key in group}
    metadata = {key: reader.fields[key].contents() for key in keys if key in reader.fields}
    return fim_tokens(metadata, vocabulary.get)
