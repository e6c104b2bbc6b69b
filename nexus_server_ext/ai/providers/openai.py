"""``kind: openai``: any OpenAI-compatible endpoint (OpenAI, vLLM, Ollama, llama.cpp, the NEXUS gateway).

Streams ``/chat/completions`` (or ``/completions`` for a raw prompt) over SSE
with httpx. The base URL and key come from the routing file only, never from a
request. A stream that ends without ``[DONE]``, or carries data that is not
JSON, is a failure: the router then restarts the answer on the next model.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

import httpx

from ..types import Delta, GenerationRequest, ProviderError, Usage
from .base import Provider
from .sse import check_status, http_error, sse_events


class OpenAIProvider(Provider):
    """Routing-file keys: ``base_url`` (ending in ``/v1``), ``api_key`` (a key stored through the
    secrets API replaces it), ``timeout_s``, ``headers``."""

    kind = "openai"

    def __init__(self, name: str, spec: dict[str, Any]) -> None:
        super().__init__(name, spec)
        self.timeout = float(spec.get("timeout_s") or 120)

    def _headers(self, request: GenerationRequest) -> dict[str, str]:
        return {
            **dict(self.spec.get("headers") or {}),
            "Authorization": f"Bearer {self.api_key(request)}",
            "Accept": "text/event-stream",
        }

    def _body(self, model: str, request: GenerationRequest) -> tuple[str, dict[str, Any]]:
        body: dict[str, Any] = {
            "model": model,
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if request.stop:
            body["stop"] = request.stop[:4]
        if request.prompt is not None:
            return "/completions", {**body, "prompt": request.prompt}
        return "/chat/completions", {**body, "messages": [m.as_dict() for m in request.messages]}

    async def stream(self, model: str, request: GenerationRequest) -> AsyncGenerator[Delta | Usage, None]:
        path, body = self._body(model, request)
        url = str(self.spec.get("base_url", "")).rstrip("/") + path
        timeout = httpx.Timeout(self.timeout, connect=min(10.0, self.timeout))
        produced, usage, finish = 0, None, "stop"
        try:
            async with (
                httpx.AsyncClient(timeout=timeout) as client,
                client.stream("POST", url, json=body, headers=self._headers(request)) as response,
            ):
                await check_status(self.name, response)
                done = False
                async for _event, data in sse_events(self.name, response):
                    if data is None:
                        done = True
                        break
                    if not isinstance(data, dict):
                        raise ProviderError(f"{self.name}: malformed stream (unexpected event)", status=502)
                    if data.get("error"):
                        raise ProviderError(f"{self.name}: the model reported an error", status=502)
                    usage = data.get("usage") or usage
                    for choice in data.get("choices") or []:
                        text = (
                            (choice.get("delta") or {}).get("content")
                            if "delta" in choice
                            else choice.get("text")
                        )
                        if text:
                            produced += 1
                            yield Delta(text)
                        finish = choice.get("finish_reason") or finish
                if not done:
                    raise ProviderError(f"{self.name}: the stream ended early", status=502)
        except ProviderError:
            raise
        except (httpx.HTTPError, OSError) as exc:
            raise http_error(self.name, exc) from None
        yield Usage(
            tokens_in=int((usage or {}).get("prompt_tokens") or 0),
            tokens_out=int((usage or {}).get("completion_tokens") or produced),
            finish_reason=finish,
        )
