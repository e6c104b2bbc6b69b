"""Where vectors come from: onnxruntime without torch, the team gateway first, the routing chain honoured."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tornado import web
from tornado.httpserver import HTTPServer
from tornado.testing import bind_unused_port

from nexus_server_ext.ai.embeddings import DIMENSIONS, Embedder, EmbeddingsUnavailable
from nexus_server_ext.ai.router import ModelRouter
from nexus_server_ext.ai.routing import load_routing
from nexus_server_ext.gateway import make_app

TOKEN = "emb-test-token"
TEXTS = ["restart the kernel", "reboot the python kernel", "I like pizza", "df.groupby('a').sum()"]


def test_onnx_vectors_match_the_torch_model() -> None:
    """The converted graph is the same network: the vectors agree with transformers' to float precision."""
    onnx_vectors = Embedder(runtime="onnx").embed_sync([*TEXTS, "a much longer text " * 40])
    torch_vectors = Embedder(runtime="torch").embed_sync([*TEXTS, "a much longer text " * 40])
    assert onnx_vectors.shape == (5, DIMENSIONS)
    cosines = np.sum(onnx_vectors * torch_vectors, axis=1)
    assert cosines.min() > 0.9999, cosines
    assert np.abs(onnx_vectors - torch_vectors).max() < 1e-3


def test_the_cpu_path_never_imports_torch(tmp_path: Path) -> None:
    """A fresh process embeds, converting the model into an empty cache, and has loaded no torch."""
    script = textwrap.dedent(
        """
        import sys, json
        from nexus_server_ext.ai.embeddings import Embedder
        e = Embedder()
        v = e.embed_sync(["hello world", "goodbye"])
        print(json.dumps({"shape": list(v.shape), "runtime": e.resolved_runtime,
                          "heavy": [m for m in ("torch", "transformers", "sentence_transformers")
                                    if m in sys.modules]}))
        """
    )
    env = {**os.environ, "NEXUS_EMBEDDING_CACHE": str(tmp_path / "cache")}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result == {"shape": [2, DIMENSIONS], "runtime": "onnx", "heavy": []}
    (graph,) = (tmp_path / "cache").glob("*.onnx")
    weights = graph.with_name(graph.name + ".data")  # memory-mapped by onnxruntime
    assert weights.stat().st_size > 80_000_000 and graph.stat().st_size < 1_000_000
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == sorted([graph.name, weights.name])


@pytest.fixture
def gateway(local_engine: Any, monkeypatch: pytest.MonkeyPatch, jp_asyncio_loop: Any) -> Iterator[str]:
    for var in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "NEXUS_GATEWAY_URL", "NEXUS_GATEWAY_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    sock, port = bind_unused_port()
    server = HTTPServer(make_app(ModelRouter(load_routing()), TOKEN))
    server.add_sockets([sock])
    yield f"http://127.0.0.1:{port}/v1"
    server.stop()


def routing_to(tmp_path: Path, base_url: str, local: bool = True) -> Any:
    chain = "      - {provider: gateway, model: all-MiniLM-L6-v2}\n"
    if local:
        chain += "      - {provider: local, model: all-MiniLM-L6-v2}\n"
    path = tmp_path / "routing.yaml"
    path.write_text(
        "providers:\n"
        f"  gateway: {{kind: openai, base_url: '{base_url}', api_key: {TOKEN}}}\n"
        "  local: {kind: local, model: bundled:SmolLM2-135M-Instruct}\n"
        "tasks:\n"
        "  natural_language:\n    chain:\n      - {provider: local, model: SmolLM2-135M-Instruct}\n"
        "  embeddings:\n    chain:\n" + chain + "    limits: {timeout_s: 5}\n"
    )
    return load_routing(path)


class CountingEmbeddings(web.RequestHandler):
    """An OpenAI-compatible /v1/embeddings on another model: the vectors are right-shaped but not MiniLM's."""

    calls = 0

    def post(self) -> None:
        CountingEmbeddings.calls += 1
        texts = json.loads(self.request.body)["input"]
        data = [
            {"object": "embedding", "index": i, "embedding": [0.05] * DIMENSIONS} for i in range(len(texts))
        ]
        self.finish({"object": "list", "model": "text-embedding-3-small", "data": data})


async def test_user_servers_take_vectors_from_the_gateway(gateway: str, tmp_path: Path) -> None:
    """With the gateway first in the chain, the vectors are the gateway's (and equal the local model's),
    and this process never loads an embedding model of its own."""
    embedder = Embedder(model_path=str(tmp_path / "no-local-model"))  # a local load would fail loudly
    embedder.use_routing(routing_to(tmp_path, gateway))
    remote = await embedder.embed(TEXTS)
    local = Embedder().embed_sync(TEXTS)
    assert np.abs(remote - local).max() < 1e-5
    status = embedder.status()
    assert status["remote"] == [
        {"source": "gateway/all-MiniLM-L6-v2", "state": "ok", "served": 4, "error": None}
    ]
    assert status["loaded"] is False


async def test_a_dead_gateway_falls_back_to_the_local_model_and_says_so(tmp_path: Path) -> None:
    sock, port = bind_unused_port()
    sock.close()  # nothing listens there
    embedder = Embedder()
    embedder.use_routing(routing_to(tmp_path, f"http://127.0.0.1:{port}/v1"))
    vectors = await embedder.embed(TEXTS[:2])
    assert np.abs(vectors - Embedder().embed_sync(TEXTS[:2])).max() < 1e-5
    (remote,) = embedder.status()["remote"]
    assert remote["state"] == "down" and "unreachable" in remote["error"]

    only_gateway = Embedder()
    only_gateway.use_routing(routing_to(tmp_path, f"http://127.0.0.1:{port}/v1", local=False))
    with pytest.raises(EmbeddingsUnavailable, match="No embedding source answered: gateway/all-MiniLM-L6-v2"):
        await only_gateway.embed(["x"])


async def test_a_gateway_on_another_model_is_refused(tmp_path: Path, jp_asyncio_loop: Any) -> None:
    """Vectors of text-embedding-3-small would poison a MiniLM memory: refused, the local model answers."""
    sock, port = bind_unused_port()
    server = HTTPServer(web.Application([(r"/v1/embeddings", CountingEmbeddings)]))
    server.add_sockets([sock])
    try:
        embedder = Embedder()
        embedder.use_routing(routing_to(tmp_path, f"http://127.0.0.1:{port}/v1"))
        vectors = await embedder.embed(["restart the kernel"])
        assert CountingEmbeddings.calls == 1
        assert abs(float(vectors[0] @ Embedder().embed_sync(["restart the kernel"])[0]) - 1.0) < 1e-5
        (remote,) = embedder.status()["remote"]
        assert "embeds with text-embedding-3-small, not all-MiniLM-L6-v2" in remote["error"]
        await embedder.embed(["another text"])  # skipped while marked down: not asked again
        assert CountingEmbeddings.calls == 1
    finally:
        server.stop()


def test_steps_naming_another_model_are_left_out(tmp_path: Path) -> None:
    path = tmp_path / "routing.yaml"
    path.write_text(
        "providers:\n"
        "  gateway: {kind: openai, base_url: 'http://127.0.0.1:9/v1', api_key: k}\n"
        "  local: {kind: local, model: bundled:SmolLM2-135M-Instruct}\n"
        "tasks:\n"
        "  embeddings:\n    chain:\n"
        "      - {provider: local, model: all-MiniLM-L6-v2}\n"
        "      - {provider: gateway, model: bge-small}\n"
    )
    embedder = Embedder()
    embedder.use_routing(load_routing(path))
    status = embedder.status()
    assert status["remote"] == [] and status["local"] is True
    assert "gateway/bge-small" in status["note"]
