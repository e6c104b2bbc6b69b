"""all-MiniLM-L6-v2 on torch (``Embedder.runtime = "torch"``): for a GPU node that has torch anyway.

The CPU default is onnxruntime (``embedding_onnx``); this runner gives the same vectors
(mean-pooled, L2-normalised) and needs the ``transformers`` extra.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING

from .embedding_errors import EmbeddingsUnavailable

if TYPE_CHECKING:
    import numpy as np


class TorchEncoder:
    """Tokenizer + model; ``encode`` is serialised because tokenizers are not thread-safe."""

    def __init__(self, path: str) -> None:
        try:
            import torch
            from transformers import AutoModel, AutoTokenizer
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise EmbeddingsUnavailable(
                'Embeddings on torch need torch and transformers: pip install "nexus-jupyter[transformers]" '
                '(or leave c.Embedder.runtime at "auto" for onnxruntime)'
            ) from exc
        self._torch = torch
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.model = AutoModel.from_pretrained(path)
        self.model.eval()
        self.dimensions = int(self.model.config.hidden_size)
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
        return np.concatenate(out) if out else np.zeros((0, self.dimensions), dtype=np.float32)

    def count_tokens(self, texts: Sequence[str], max_tokens: int) -> int:
        with self.lock:
            encoded = self.tokenizer(list(texts), truncation=True, max_length=max_tokens)
        return sum(len(ids) for ids in encoded["input_ids"])
