"""``kind: anthropic``: the Anthropic Messages API with streaming.

System messages go to the top-level ``system`` field (the API has no system
role); consecutive turns of one role are merged because the API requires
alternation. A raw prompt becomes one user turn asking for a continuation.

Tools: offered as ``tools`` (``input_schema``); an assistant turn that called
tools carries ``tool_use`` blocks and each result goes back as a ``tool_result``
block of a user turn. A ``tool_use`` block streams its input as JSON pieces,
yielded as one ``ToolCall`` when the block ends.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from typing import Any

import httpx

from ..types import ChatMessage, Delta, GenerationRequest, ProviderError, ToolCall, Usage
from .base import Provider
from .sse import check_status, http_error, probe_get, sse_events
from .tool_calls import new_call_id, parse_tool_call

API_VERSION = "2023-06-01"

STOP_REASONS = {"max_tokens": "length", "end_turn": "stop", "tool_use": "tool_calls"}


def _blocks(message: ChatMessage) -> str | list[dict[str, Any]]:
    """A turn's content: plain text, or content blocks when it calls tools or answers one."""
    if message.role == "tool":
        return [
            {"type": "tool_result", "tool_use_id": message.tool_call_id or "", "content": message.content}
        ]
    if not message.tool_calls:
        return message.content
    blocks: list[dict[str, Any]] = [{"type": "text", "text": message.content}] if message.content else []
    blocks += [
        {"type": "tool_use", "id": c.id, "name": c.name, "input": c.arguments} for c in message.tool_calls
    ]
    return blocks


def _listed(content: str | list[dict[str, Any]]) -> list[dict[str, Any]]:
    if isinstance(content, list):
        return content
    return [{"type": "text", "text": content}] if content else []


def _merge(before: str | list[dict[str, Any]], after: str | list[dict[str, Any]]) -> Any:
    """Two turns of one role as one (the API needs alternation): text joined, blocks concatenated."""
    if isinstance(before, str) and isinstance(after, str):
        return before + "\n\n" + after
    return _listed(before) + _listed(after)


def to_messages(request: GenerationRequest) -> tuple[str, list[dict[str, Any]]]:
    if request.prompt is not None:
        return "Continue the text exactly where it stops. Reply with the continuation only.", [
            {"role": "user", "content": request.prompt}
        ]
    system = "\n\n".join(m.content for m in request.messages if m.role == "system")
    turns: list[dict[str, Any]] = []
    for m in request.messages:
        if m.role == "system":
            continue
        role = "user" if m.role == "tool" else m.role
        content = _blocks(m)
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"] = _merge(turns[-1]["content"], content)
        else:
            turns.append({"role": role, "content": content})
    return system, turns


class AnthropicProvider(Provider):
    """Routing-file keys: ``base_url`` (e.g. ``https://api.anthropic.com``), ``api_key``,
    ``api_version`` (default 2023-06-01), ``timeout_s``."""

    kind = "anthropic"

    async def probe(self, api_key: str | None, timeout_s: float) -> str:
        """``GET /v1/models`` (the Models API): free, no message, so no tokens spent."""
        headers = {"anthropic-version": str(self.spec.get("api_version") or API_VERSION)}
        if api_key:
            headers["x-api-key"] = api_key
        url = str(self.spec.get("base_url", "")).rstrip("/") + "/v1/models"
        return await probe_get(url, headers, timeout_s)

    async def stream(
        self, model: str, request: GenerationRequest
    ) -> AsyncGenerator[Delta | ToolCall | Usage, None]:
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
        if request.tools and request.prompt is None:
            body["tools"] = [
                {"name": t.name, "description": t.description, "input_schema": t.parameters}
                for t in request.tools
            ]
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
        calls: dict[int, dict[str, Any]] = {}  # open tool_use blocks by index: id, name, input pieces
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
                    elif kind == "content_block_start":
                        block = data.get("content_block") or {}
                        if block.get("type") == "tool_use":
                            calls[data.get("index", 0)] = {
                                "id": str(block.get("id") or new_call_id()),
                                "name": str(block.get("name") or ""),
                                "start": block.get("input"),  # {} when the input streams in pieces
                                "pieces": [],
                            }
                    elif kind == "content_block_delta":
                        delta = data.get("delta") or {}
                        if delta.get("type") == "input_json_delta":
                            call = calls.get(data.get("index", 0))
                            if call is not None:
                                call["pieces"].append(str(delta.get("partial_json") or ""))
                        elif delta.get("text"):
                            yield Delta(delta["text"])
                    elif kind == "content_block_stop":
                        call = calls.pop(data.get("index", 0), None)
                        if call is not None:
                            start = json.dumps(call["start"]) if call["start"] else ""
                            text = "".join(call["pieces"]) if call["pieces"] else start
                            yield parse_tool_call(call["id"], call["name"], text)
                    elif kind == "message_delta":
                        tokens_out = int((data.get("usage") or {}).get("output_tokens") or tokens_out)
                        stop = (data.get("delta") or {}).get("stop_reason")
                        finish = STOP_REASONS.get(stop or "", stop or finish)
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
