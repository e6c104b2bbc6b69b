"""``kind: openai``: any OpenAI-compatible endpoint (OpenAI, vLLM, Ollama, llama.cpp, the NEXUS gateway).

Streams ``/chat/completions`` (or ``/completions`` for a raw prompt) over SSE
with httpx. The base URL and key come from the routing file only, never from a
request. A stream that ends without ``[DONE]``, or carries data that is not
JSON, is a failure: the router then restarts the answer on the next model.

Tools: a request with ``tools`` offers them as functions (``tool_choice: auto``);
the calls stream as fragments keyed by ``index`` (id and name first, then the
arguments text in pieces) and are yielded whole, as ``ToolCall``s, once the
stream has ended. Earlier calls and their results travel in OpenAI's own shape.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from typing import Any

import httpx

from ..types import ChatMessage, Delta, GenerationRequest, ProviderError, ToolCall, Usage
from .base import Provider
from .sse import check_status, http_error, probe_get, sse_events
from .tool_calls import arguments_json, new_call_id, parse_tool_call


def to_message(message: ChatMessage) -> dict[str, Any]:
    """One turn in the Chat Completions shape; a turn without tools stays ``{role, content}``."""
    if message.role == "tool":
        return {"role": "tool", "tool_call_id": message.tool_call_id or "", "content": message.content}
    if message.tool_calls:
        calls = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": arguments_json(c)}}
            for c in message.tool_calls
        ]
        return {"role": message.role, "content": message.content or None, "tool_calls": calls}
    return message.as_dict()


class CallFragments:
    """Streamed ``delta.tool_calls`` pieces, put together by ``index``."""

    def __init__(self) -> None:
        self.calls: dict[int, dict[str, Any]] = {}

    def add(self, fragments: Any) -> None:
        for position, fragment in enumerate(fragments if isinstance(fragments, list) else []):
            if not isinstance(fragment, dict):
                continue
            index = fragment.get("index")
            call = self.calls.setdefault(index if isinstance(index, int) else position, {"arguments": []})
            function = fragment.get("function")
            function = function if isinstance(function, dict) else {}
            if fragment.get("id"):
                call["id"] = str(fragment["id"])
            if function.get("name"):
                call["name"] = str(function["name"])
            pieces = function.get("arguments")
            if pieces:  # a string in pieces; a few compatible servers send the object itself
                call["arguments"].append(pieces if isinstance(pieces, str) else json.dumps(pieces))

    def finished(self) -> list[ToolCall]:
        return [
            parse_tool_call(c.get("id") or new_call_id(), c.get("name", ""), "".join(c["arguments"]))
            for _, c in sorted(self.calls.items())
        ]


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
        body["messages"] = [to_message(m) for m in request.messages]
        if request.tools:
            body["tools"] = [
                {
                    "type": "function",
                    "function": {"name": t.name, "description": t.description, "parameters": t.parameters},
                }
                for t in request.tools
            ]
            body["tool_choice"] = "auto"
        return "/chat/completions", body

    async def probe(self, api_key: str | None, timeout_s: float) -> str:
        """``GET /models``: free on every OpenAI-compatible server, and no tokens spent."""
        headers = dict(self.spec.get("headers") or {})
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        return await probe_get(str(self.spec.get("base_url", "")).rstrip("/") + "/models", headers, timeout_s)

    async def stream(
        self, model: str, request: GenerationRequest
    ) -> AsyncGenerator[Delta | ToolCall | Usage, None]:
        path, body = self._body(model, request)
        url = str(self.spec.get("base_url", "")).rstrip("/") + path
        timeout = httpx.Timeout(self.timeout, connect=min(10.0, self.timeout))
        produced, usage, finish = 0, None, "stop"
        fragments = CallFragments()
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
                        if (choice.get("delta") or {}).get("tool_calls"):
                            fragments.add(choice["delta"]["tool_calls"])
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
        calls = fragments.finished()
        for call in calls:
            yield call
        if calls and finish == "stop":  # some compatible servers say "stop" after calling tools
            finish = "tool_calls"
        yield Usage(
            tokens_in=int((usage or {}).get("prompt_tokens") or 0),
            tokens_out=int((usage or {}).get("completion_tokens") or produced),
            finish_reason=finish,
        )
