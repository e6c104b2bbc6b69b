"""A model provider from a plugin: ``kind: example-shout`` answers with the last user message in capitals.

A stand-in for a real backend a package would add (a company's own model service); it shows the
contract: stream ``Delta`` pieces, then one ``Usage``. It needs no key, so it is always configured.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

from nexus_server_ext.ai.providers.base import Provider
from nexus_server_ext.ai.types import Delta, GenerationRequest, ToolCall, Usage


class ShoutProvider(Provider):
    kind = "example-shout"

    def configured(self, api_key: str | None = None) -> bool:
        return True

    async def stream(
        self, model: str, request: GenerationRequest
    ) -> AsyncGenerator[Delta | ToolCall | Usage, None]:
        last = next((m.content for m in reversed(request.messages) if m.role == "user"), request.prompt or "")
        words = f"{model}: {last.upper()}".split(" ")
        for i, word in enumerate(words):
            yield Delta(word if i == 0 else " " + word)
        yield Usage(tokens_in=len(last.split()), tokens_out=len(words), finish_reason="stop")

    def describe(self) -> dict[str, Any]:
        return {"configured": True, "plugin": "nexus-example-plugin"}
