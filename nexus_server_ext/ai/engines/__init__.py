"""Local model engines behind one interface, one per model per process.

``get_engine(source, device, max_queue, backend, options)`` returns the
process-wide engine for a model; the backend is chosen per model in the
routing file (``backend: llama_cpp | transformers``) or, by default, from the
file: llama.cpp for ``.gguf`` (the bundled model), transformers otherwise.
Importing this package is cheap: backends import their libraries when they load.
"""

from __future__ import annotations

import threading
from typing import Any

from .base import Engine, EngineBusy, Job
from .sources import BUNDLED_PREFIX, ModelNotFound, bundled_gguf, canonical, pick_backend, resolve_source

__all__ = [
    "BUNDLED_PREFIX",
    "Engine",
    "EngineBusy",
    "Job",
    "ModelNotFound",
    "bundled_gguf",
    "get_engine",
    "loaded_engines",
    "resolve_source",
]

_ENGINES: dict[tuple[str, str, str], Engine] = {}
_LOCK = threading.Lock()


def engine_class(backend: str) -> type[Engine]:
    if backend == "llama_cpp":
        from .llama_cpp import LlamaCppEngine

        return LlamaCppEngine
    if backend == "transformers":
        from .transformers import TransformersEngine

        return TransformersEngine
    raise ValueError(f"unknown local backend {backend!r} (use llama_cpp or transformers)")


def get_engine(
    source: str = "",
    device: str = "auto",
    max_queue: int = 8,
    backend: str = "auto",
    options: dict[str, Any] | None = None,
) -> Engine:
    """The process-wide engine for ``source`` on ``backend`` (created, not loaded, on first request)."""
    source = canonical(source)
    chosen = pick_backend(source, backend)
    key = (source, device, chosen)
    with _LOCK:
        engine = _ENGINES.get(key)
        if engine is None:
            engine = _ENGINES[key] = engine_class(chosen)(source, device, max_queue, options)
        return engine


def loaded_engines() -> list[Engine]:
    """Every engine this process created (loaded or not)."""
    with _LOCK:
        return list(_ENGINES.values())
