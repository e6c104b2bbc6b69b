"""``kind: local``: an in-process engine (llama.cpp or transformers; the bundled SmolLM2 by default).

The bundled model cannot call tools natively, so a request with ``tools`` is
turned into constrained output (``tool_calls.py``): the tools as a system prompt,
a JSON schema the engine decodes under, and the JSON read back as one
``ToolCall`` or a text answer once the model has finished.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import Any

from ..engines import Engine, get_engine
from ..types import Delta, GenerationRequest, ToolCall, Usage
from .base import Provider
from .tool_calls import constrained_messages, read_constrained, tool_schema


class LocalProvider(Provider):
    """Routing-file keys: ``model`` (``bundled:...``, a directory, a ``.gguf`` file or a model id),
    ``backend`` (``llama_cpp`` | ``transformers``; default llama_cpp for GGUF, transformers otherwise),
    ``device`` (auto | cpu | cuda | mps), ``max_queue`` (requests waiting before refusing), ``fim``
    (false: never use the model's fill-in-the-middle markers, for a model whose vocabulary has them but
    that was not trained with them).

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
            {"fim": spec["fim"]} if "fim" in spec else None,
        )

    def configured(self, api_key: str | None = None) -> bool:
        return True

    async def prepare(self) -> None:
        await self.engine.ensure_loaded()

    async def stream(
        self, model: str, request: GenerationRequest
    ) -> AsyncGenerator[Delta | ToolCall | Usage, None]:
        if request.tools and request.prompt is None:
            async with aclosing(self._with_tools(request)) as calls:
                async for item in calls:
                    yield item
            return
        async with aclosing(self.engine.stream(request)) as items:
            async for item in items:
                yield item

    async def _with_tools(self, request: GenerationRequest) -> AsyncGenerator[Delta | ToolCall | Usage, None]:
        """Tools by constrained output: the whole JSON is read once the model has finished."""
        constrained = dataclasses.replace(
            request,
            messages=constrained_messages(request.messages, request.tools),
            json_schema=tool_schema(request.tools),
        )
        text: list[str] = []
        usage = Usage()
        async with aclosing(self.engine.stream(constrained)) as items:
            async for item in items:
                if isinstance(item, Usage):
                    usage = item
                elif isinstance(item, Delta):
                    text.append(item.text)
        result = read_constrained("".join(text).strip(), request.tools)
        if isinstance(result, ToolCall):
            yield result
            usage = dataclasses.replace(usage, finish_reason="tool_calls")
        elif result.text:
            yield result
        yield usage

    def describe(self) -> dict[str, Any]:
        return {"configured": True, **self.engine.describe()}
