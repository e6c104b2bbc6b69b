"""Tool calls across providers: parsing a model's arguments, and tools for models that cannot call them.

The remote APIs hand arguments over as JSON text, often in pieces; every provider
turns that text into a ``ToolCall`` the same way, so a malformed call reads the
same to the agent whichever model made it (``error`` set, never an exception).

A small local model has no native tool calling. It gets the tools as a compact
system prompt and a JSON schema its output must follow (``{"tool", "arguments"}``
or ``{"answer"}``); an engine that can constrain decoding (llama.cpp) guarantees
that shape, and ``read_constrained`` turns the text back into a call or an answer.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from ..types import ChatMessage, Delta, ToolCall, ToolSpec

_CLIP = 200


def new_call_id() -> str:
    """An id for a call whose model gave none (the local model, a server that omits it)."""
    return f"call_{uuid.uuid4().hex[:8]}"


def parse_tool_call(call_id: str, name: str, arguments: str | None) -> ToolCall:
    """A ``ToolCall`` from the model's argument text; empty text means no arguments."""
    text = (arguments or "").strip()
    if not text:
        return ToolCall(call_id, name, {})
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if isinstance(value, dict):
        return ToolCall(call_id, name, value)
    clipped = text if len(text) <= _CLIP else text[:_CLIP] + "..."
    return ToolCall(call_id, name, {}, error=f"the arguments were not a JSON object: {clipped}")


def arguments_json(call: ToolCall) -> str:
    """A call's arguments as the JSON text the OpenAI protocol carries."""
    return json.dumps(call.arguments, ensure_ascii=False)


# -- constrained tool calling for local models -----------------------------------------------------
def _signature(tool: ToolSpec) -> str:
    props = tool.parameters.get("properties") or {}
    required = set(tool.parameters.get("required") or [])
    args = []
    for name, schema in props.items():
        kind = schema.get("type", "any") if isinstance(schema, dict) else "any"
        if isinstance(schema, dict) and schema.get("enum"):
            kind = "|".join(json.dumps(v) for v in schema["enum"])
        args.append(f"{name}{'' if name in required else '?'}: {kind}")
    return f"- {tool.name}({', '.join(args)}): {tool.description.strip()}"


def tool_prompt(tools: list[ToolSpec]) -> str:
    """The system prompt that tells a model without native tools which tools exist and how to answer."""
    lines = [
        "You can call these tools:",
        *(_signature(t) for t in tools),
        'Reply with JSON only: {"tool": name, "arguments": {...}} to call a tool, '
        'or {"answer": "your reply"} to reply to the user.',
    ]
    return "\n".join(lines)


# Schema keywords a grammar does not need: llama.cpp spells a length or count bound out as that
# many optional repetitions, and a "maxLength: 100000" grammar exhausts the sampler (it crashed the
# process). The tool registry checks the real schema after the call, so nothing is lost.
_BOUNDS = frozenset({"maxLength", "minLength", "maxItems", "minItems", "minimum", "maximum", "pattern"})


def grammar_schema(schema: Any) -> Any:
    """``schema`` without the bounds a grammar would have to spell out."""
    if isinstance(schema, dict):
        return {k: grammar_schema(v) for k, v in schema.items() if k not in _BOUNDS}
    if isinstance(schema, list):
        return [grammar_schema(v) for v in schema]
    return schema


def tool_schema(tools: list[ToolSpec]) -> dict[str, Any]:
    """The output schema: a call of one of ``tools`` (its own argument schema) or a text answer."""
    calls = [
        {
            "type": "object",
            "properties": {
                "tool": {"type": "string", "enum": [t.name]},
                "arguments": grammar_schema(t.parameters or {"type": "object"}),
            },
            "required": ["tool", "arguments"],
            "additionalProperties": False,
        }
        for t in tools
    ]
    answer = {
        "type": "object",
        "properties": {"answer": {"type": "string"}},
        "required": ["answer"],
        "additionalProperties": False,
    }
    return {"anyOf": [*calls, answer]}


def constrained_messages(messages: list[ChatMessage], tools: list[ToolSpec]) -> list[ChatMessage]:
    """The conversation for a model without native tools: the tool prompt joins the system turn, and
    earlier calls read as the JSON the model itself would write, so the history shows it the format."""
    names: dict[str, str] = {}
    out: list[ChatMessage] = []
    for m in messages:
        if m.tool_calls:
            names.update((c.id, c.name) for c in m.tool_calls)
            calls = [json.dumps({"tool": c.name, "arguments": c.arguments}) for c in m.tool_calls]
            out.append(ChatMessage("assistant", "\n".join(calls)))
        elif m.role == "tool":
            name = names.get(m.tool_call_id or "", "the tool")
            out.append(ChatMessage("user", f"Result of {name}:\n{m.content}"))
        else:
            out.append(m)
    prompt = tool_prompt(tools)
    if out and out[0].role == "system":
        return [ChatMessage("system", out[0].content.rstrip() + "\n\n" + prompt), *out[1:]]
    return [ChatMessage("system", prompt), *out]


def read_constrained(text: str, tools: list[ToolSpec]) -> Delta | ToolCall:
    """The model's JSON as a call or an answer; anything else (cut short, not JSON) is plain text."""
    try:  # not strict: llama.cpp's grammar lets raw newlines into strings, which is harmless here
        value = json.loads(text, strict=False)
    except ValueError:
        return Delta(text)
    if isinstance(value, dict):
        tool, arguments = value.get("tool"), value.get("arguments", {})
        if tool in {t.name for t in tools} and isinstance(arguments, dict):
            return ToolCall(new_call_id(), str(tool), arguments)
        if isinstance(value.get("answer"), str) and set(value) == {"answer"}:
            return Delta(value["answer"])
    return Delta(text)
