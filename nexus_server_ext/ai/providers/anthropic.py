"""``kind: anthropic``: the Anthropic Messages API with streaming.

System messages go to the top-level ``system`` field (the API has no system
role); consecutive turns of one role are merged because the API requires
alternation. A raw prompt becomes one user turn asking for a continuation.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

import httpx

from ..types import Delta, GenerationRequest, ProviderError, Usage
from .base import Provider
from .sse import check_status, http_error, sse_events

API_VERSION = "2023-06-01"


def to_messages(request: GenerationRequest) -> tuple[str, list[dict[str, str]]]:
    if request.prompt is not None:
        return "Continue the text exactly where it stops. Reply with the continuation only.", [
            {"role": "user", "content": request.prompt}
        ]
    system = "\n\n".join(m.content for m in request.messages if m.role == "system")
    turns: list[dict[str, str]] = []
    for m in request.messages:
        if m.role == "system":
            continue
        if turns and turns[-1]["role"] == m.role:
            turns[-1]["content"] += "\n\n" + m.content
        else:
            turns.append({"role": m.role, "content": m.content})
    return system, turns


class AnthropicProvider(Provider):
    """Routing-file keys: ``base_url`` (e.g. ``https://api.anthropic.com``), ``api_key``,
    ``api_version`` (default 2023-06-01), ``timeout_s``."""

    kind = "anthropic"

    async def stream(self, model: str, request: GenerationRequest) -> AsyncGenerator[Delta | Usage, None]:
        system, turns = to_messages(request)
        body: dict[str, Any] = {
            "model": model,
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "messages": turns,
            "stream": True,
        }
        if system:
            body["system"] = system
        if request.stop:
            body["stop_sequences"] = request.stop[:4]
        headers = {
            "x-api-key": self.api_key(request),
            "anthropic-version": str(self.spec.get("api_version") or API_VERSION),
            "content-type": "application/json",
            "accept": "text/event-stream",
        }
        timeout_s = float(self.spec.get("timeout_s") or 120)
        url = str(self.spec.get("base_url", "")).rstrip("/") + "/v1/messages"
        tokens_in = tokens_out = 0
        finish, done = "stop", False
        try:
            async with (
                httpx.AsyncClient(timeout=httpx.Timeout(timeout_s, connect=min(10.0, timeout_s))) as client,
                client.stream("POST", url, json=body, headers=headers) as response,
            ):
                await check_status(self.name, response)
                async for event, data in sse_events(self.name, response):
                    kind = (data or {}).get("type", event) if isinstance(data, dict) else event
                    if kind == "message_start":
                        tokens_in = int(((data["message"].get("usage")) or {}).get("input_tokens") or 0)
                    elif kind == "content_block_delta":
                        text = (data.get("delta") or {}).get("text")
                        if text:
                            yield Delta(text)
                    elif kind == "message_delta":
                        tokens_out = int((data.get("usage") or {}).get("output_tokens") or tokens_out)
                        stop = (data.get("delta") or {}).get("stop_reason")
                        finish = {"max_tokens": "length", "end_turn": "stop"}.get(stop or "", stop or finish)
                    elif kind == "error":
                        raise ProviderError(f"{self.name}: the model reported an error", status=502)
                    elif kind == "message_stop":
                        done = True
                        break
                if not done:
                    raise ProviderError(f"{self.name}: the stream ended early", status=502)
        except ProviderError:
            raise
        except (httpx.HTTPError, OSError, KeyError, TypeError, AttributeError) as exc:
            raise http_error(self.name, exc) from None
        yield Usage(tokens_in=tokens_in, tokens_out=tokens_out, finish_reason=finish)
