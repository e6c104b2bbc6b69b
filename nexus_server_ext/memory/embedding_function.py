"""The chromadb embedding function backed by the bundled all-MiniLM-L6-v2.

Kept in its own module because defining it imports chromadb: only the vector
memory imports this, on first use. It is registered under a fixed name so a
collection reopened after a restart finds the same function (chromadb refuses
to reopen a collection whose embedding function it cannot rebuild).
"""

from __future__ import annotations

from typing import Any

from chromadb.api.types import Documents, EmbeddingFunction, Embeddings
from chromadb.utils.embedding_functions import register_embedding_function

from ..ai.embeddings import get_embedder

BATCH = 64


@register_embedding_function
class MiniLMEmbeddingFunction(EmbeddingFunction[Documents]):
    """384-d normalised sentence embeddings, computed in batches of ``BATCH`` texts."""

    def __init__(self, batch_size: int = BATCH) -> None:
        self.batch_size = batch_size

    def __call__(self, input: Documents) -> Embeddings:
        import numpy as np

        embedder = get_embedder()
        out: list[Any] = []
        texts = list(input)
        for start in range(0, len(texts), self.batch_size):
            vectors = embedder.embed_sync(texts[start : start + self.batch_size])
            out.extend(np.asarray(v, dtype=np.float32) for v in vectors)
        return out

    @staticmethod
    def name() -> str:
        return "nexus-minilm"

    def default_space(self) -> Any:
        return "cosine"

    def get_config(self) -> dict[str, Any]:
        return {"batch_size": self.batch_size}

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> MiniLMEmbeddingFunction:
        return MiniLMEmbeddingFunction(int(config.get("batch_size") or BATCH))
