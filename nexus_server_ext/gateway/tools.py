"""Tool calling in the gateway's OpenAI dialect: requests' ``tools`` and tool turns in, calls out.

A client (a user server's agent, the ``openai`` SDK) offers ``tools`` and sends
earlier calls and their results as OpenAI messages; the gateway hands them to the
router as ``ToolSpec`` / ``ChatMessage`` and answers with the calls the model made,
as ``message.tool_calls`` or, streamed, as ``delta.tool_calls`` chunks.
"""

from __future__ import annotations

from typing import Any

from ..ai.providers.tool_calls import arguments_json, parse_tool_call
from ..ai.types import ChatMessage, ToolCall, ToolSpec
from .errors import GatewayError

ROLES = ("system", "user", "assistant", "tool")


def content_text(content: Any) -> str:
    """OpenAI content: a string, or a list of parts of which NEXUS reads the text ones."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    if content is None:
        return ""
    raise TypeError("content")


def _call(call: Any) -> ToolCall:
    function = call["function"]
    arguments = function.get("arguments")
    text = arguments if isinstance(arguments, str) else None
    parsed = parse_tool_call(str(call["id"]), str(function["name"]), text)
    if isinstance(arguments, dict):  # lenient: the object itself instead of its JSON text
        return ToolCall(parsed.id, parsed.name, arguments)
    return parsed


def read_messages(messages: list[Any]) -> list[ChatMessage]:
    """Chat messages, tool turns included; 400 for a message the router could not pass on."""
    try:
        parsed = []
        for m in messages:
            role = m["role"]
            if role not in ROLES:
                raise GatewayError(400, "Message roles must be system, user, assistant or tool.")
            calls = tuple(_call(c) for c in m.get("tool_calls") or ()) if role == "assistant" else ()
            call_id = m.get("tool_call_id") if role == "tool" else None
            if role == "tool" and not isinstance(call_id, str):
                raise GatewayError(400, "A tool message needs a 'tool_call_id'.")
            parsed.append(ChatMessage(role, content_text(m.get("content")), calls, call_id))
    except (KeyError, TypeError, AttributeError):
        raise GatewayError(400, "Each message needs a 'role' and a 'content'.") from None
    return parsed


def read_tools(data: dict[str, Any]) -> list[ToolSpec]:
    """The request's ``tools`` (none when ``tool_choice`` is ``none``)."""
    tools = data.get("tools")
    if tools is None or data.get("tool_choice") == "none":
        return []
    if not isinstance(tools, list):
        raise GatewayError(400, "'tools' must be a list of functions.")
    specs = []
    for tool in tools:
        function = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(function, dict) or tool.get("type", "function") != "function":
            raise GatewayError(400, "Each tool must be a function with a 'name'.")
        name = function.get("name")
        if not isinstance(name, str) or not name:
            raise GatewayError(400, "Each tool must be a function with a 'name'.")
        parameters = function.get("parameters") or {"type": "object", "properties": {}}
        if not isinstance(parameters, dict):
            raise GatewayError(400, f"The parameters of the tool '{name}' must be a JSON schema object.")
        specs.append(ToolSpec(name, str(function.get("description") or ""), parameters))
    return specs


def call_messages(calls: list[ToolCall]) -> list[dict[str, Any]]:
    """``message.tool_calls`` of a whole answer."""
    return [
        {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": arguments_json(c)}}
        for c in calls
    ]


def call_deltas(calls: list[ToolCall]) -> list[dict[str, Any]]:
    """``delta.tool_calls`` of a streamed answer: each call whole, in one fragment."""
    return [{"index": i, **call} for i, call in enumerate(call_messages(calls))]
