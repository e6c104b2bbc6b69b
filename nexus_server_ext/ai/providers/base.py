"""The provider contract: stream text for a ``GenerationRequest`` from one configured backend."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator
from typing import Any, ClassVar

from ..types import Delta, GenerationRequest, ToolCall, Usage


class Provider(ABC):
    """One entry of the routing file's ``providers`` section.

    ``stream`` yields ``Delta`` chunks (and ``ToolCall``s, for a request with ``tools``, from a
    provider that can call tools) then exactly one ``Usage``, and raises
    ``ProviderError`` (with a message free of URLs and keys) on any failure,
    including a stream that ends early or is malformed: the router relies on
    that to fall back cleanly.
    """

    kind: ClassVar[str] = ""

    def __init__(self, name: str, spec: dict[str, Any]) -> None:
        self.name = name
        self.spec = spec

    def configured(self, api_key: str | None = None) -> bool:
        """Remote providers need a base URL and a key (the routing file's, or ``api_key``: one stored
        through the secrets API); without them they are skipped, not failed."""
        return bool(self.spec.get("base_url")) and bool(api_key or self.spec.get("api_key"))

    def api_key(self, request: GenerationRequest) -> str:
        """The key for this request: the caller's stored one, else the routing file's."""
        return str(request.api_key or self.spec.get("api_key") or "")

    @abstractmethod
    def stream(
        self, model: str, request: GenerationRequest
    ) -> AsyncGenerator[Delta | ToolCall | Usage, None]: ...

    async def probe(self, api_key: str | None, timeout_s: float) -> str:
        """One cheap request that spends no tokens (``GET /models``), for the active health probe
        (``ai/probe.py``): returns what the server answered (``HTTP 200``; an answer below 500, a
        refused key included, means it is up) and raises ``ProbeFailed`` when it does not answer.
        A kind with nothing remote to probe (the local model) keeps this default."""
        raise NotImplementedError

    async def prepare(self) -> None:
        """Get ready to answer (load weights); not counted against the task's timeout."""
        return None

    def describe(self) -> dict[str, Any]:
        """Live state for ``/models`` and ``/status`` (never a URL or key)."""
        return {"configured": self.configured()}

    async def aclose(self) -> None:
        return None
