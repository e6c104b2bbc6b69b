"""The bundled MiniLM embedder: unit vectors whose similarity tracks meaning."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from nexus_server_ext.ai.embeddings import DIMENSIONS, Embedder, EmbeddingsUnavailable


async def test_similar_sentences_are_closer_than_unrelated_ones() -> None:
    embedder = Embedder(batch_size=2)
    vectors = await embedder.embed(["restart the kernel", "reboot the python kernel", "I like pizza"])
    assert vectors.shape == (3, DIMENSIONS) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    assert vectors[0] @ vectors[1] > 0.6 > vectors[0] @ vectors[2] + 0.3


async def test_batches_and_concurrent_calls_agree() -> None:
    texts = [f"cell number {i}" for i in range(7)]
    one_batch = Embedder(batch_size=64).embed_sync(texts)
    results = await asyncio.gather(*(Embedder(batch_size=3).embed([t]) for t in texts))
    assert np.allclose(np.concatenate(results), one_batch, atol=1e-5)
    assert Embedder().embed_sync([]).shape == (0, DIMENSIONS)


def test_missing_model_says_so(tmp_path: object) -> None:
    with pytest.raises(EmbeddingsUnavailable):
        Embedder(model_path=str(tmp_path) + "/nothing-here").embed_sync(["x"])


def test_a_repeated_query_is_embedded_once_and_its_cached_vector_cannot_be_changed() -> None:
    """A chat message is embedded by the classifier and by two memory searches: one forward pass."""
    from nexus_server_ext.ai import embeddings

    embedder = Embedder()
    text = "why does my dataframe merge drop rows"
    first = embedder.embed_sync([text])
    calls = []
    model = embedder._model()
    original = model.encode
    model.encode = lambda *a, **k: calls.append(a) or original(*a, **k)  # type: ignore[method-assign]
    try:
        first[0, :] = 0.0  # a caller scribbling on its result must not poison the cache
        again = embedder.embed_sync([text])
        assert calls == []  # served from the cache
        assert np.allclose(again, Embedder(max_tokens=255).embed_sync([text]), atol=1e-5)
        assert len(calls) == 1  # another setting is another key: computed
        for i in range(embeddings.QUERY_CACHE_SIZE + 1):
            embedder.embed_sync([f"query {i}"])
        embedder.embed_sync([text])  # pushed out by newer queries: computed again
        assert len(calls) == embeddings.QUERY_CACHE_SIZE + 3
    finally:
        model.encode = original  # type: ignore[method-assign]
