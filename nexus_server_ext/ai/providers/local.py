"""``kind: local``: an in-process engine (llama.cpp or transformers; the bundled SmolLM2 by default)."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import Any

from ..engines import Engine, get_engine
from ..types import Delta, GenerationRequest, Usage
from .base import Provider


class LocalProvider(Provider):
    """Routing-file keys: ``model`` (``bundled:...``, a directory, a ``.gguf`` file or a model id),
    ``backend`` (``llama_cpp`` | ``transformers``; default llama_cpp for GGUF, transformers otherwise),
    ``device`` (auto | cpu | cuda | mps), ``max_queue`` (requests waiting before refusing).

    The chain step's ``model`` is only a label: the weights come from the provider's ``model`` key,
    so one provider serves one model, which is what a process-wide engine can afford.
    """

    kind = "local"

    def __init__(self, name: str, spec: dict[str, Any]) -> None:
        super().__init__(name, spec)
        self.engine: Engine = get_engine(
            str(spec.get("model") or ""),
            str(spec.get("device") or "auto"),
            int(spec.get("max_queue") or 8),
            str(spec.get("backend") or "auto"),
        )

    def configured(self, api_key: str | None = None) -> bool:
        return True

    async def prepare(self) -> None:
        await self.engine.ensure_loaded()

    async def stream(self, model: str, request: GenerationRequest) -> AsyncGenerator[Delta | Usage, None]:
        async with aclosing(self.engine.stream(request)) as items:
            async for item in items:
                yield item

    def describe(self) -> dict[str, Any]:
        return {"configured": True, **self.engine.describe()}
