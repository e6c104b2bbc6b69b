"""Tool calling for the agent, through the real router: OpenAI and Anthropic (a scripted stand-in model
over real HTTP), the gateway passing tools through, and the bundled model calling tools by constrained
decoding with the real llama.cpp."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import openai
import pytest
from support.scripted_models import Protocol, ScriptedModelServer, write_scripted_routing
from tornado.httpserver import HTTPServer
from tornado.testing import bind_unused_port

from nexus_server_ext.ai.providers.tool_calls import constrained_messages, read_constrained, tool_schema
from nexus_server_ext.ai.router import ModelRouter
from nexus_server_ext.ai.routing import load_routing, parse_routing
from nexus_server_ext.ai.types import (
    ChatMessage,
    Delta,
    Done,
    GenerationMeta,
    NoModelAvailable,
    ToolCall,
    ToolSpec,
)
from nexus_server_ext.gateway import make_app

TOOLS = [
    ToolSpec(
        "insert_cell",
        "Insert a new code cell into the notebook.",
        {
            "type": "object",
            "properties": {"source": {"type": "string"}, "index": {"type": "integer"}},
            "required": ["source"],
        },
    ),
    ToolSpec(
        "run_cell",
        "Run a cell of the notebook.",
        {"type": "object", "properties": {"cell_id": {"type": "string"}}, "required": ["cell_id"]},
    ),
]
ASK = [ChatMessage("system", "You edit notebooks."), ChatMessage("user", "Insert a cell that prints hello.")]
INSERT = {"name": "insert_cell", "arguments": {"source": "print('hello')", "index": 0}}
RUN = {"name": "run_cell", "arguments": {"cell_id": "c1"}}
# The conversation after the model called insert_cell and the tool answered.
AFTER_CALL = [
    *ASK,
    ChatMessage(
        "assistant",
        "Inserting it.",
        tool_calls=(ToolCall("call_1", "insert_cell", {"source": "print('hello')"}),),
    ),
    ChatMessage("tool", "Inserted cell c1 at index 0.", tool_call_id="call_1"),
]


def router_for(server: ScriptedModelServer, kind: Protocol, tmp_path: Path) -> ModelRouter:
    return ModelRouter(load_routing(write_scripted_routing(tmp_path / "routing.yaml", server, kind)))


async def answer(router: ModelRouter, messages: list[ChatMessage], **options: Any) -> GenerationMeta:
    events = [e async for e in router.stream("agent", messages, **options)]
    done = events[-1]
    assert isinstance(done, Done)
    assert "".join(e.text for e in events if isinstance(e, Delta)) == done.meta.text
    return done.meta


@pytest.fixture
def scripted() -> Iterator[ScriptedModelServer]:
    """A stand-in model whose script the test sets (``server.script = [...]``); calls come in 4 pieces."""
    with ScriptedModelServer([], pieces=4) as server:
        yield server


# -- OpenAI ------------------------------------------------------------------------------------------
async def test_agent_openai_tool_calls_streamed_in_pieces_reach_done(
    scripted: ScriptedModelServer, tmp_path: Path
) -> None:
    scripted.script = [{"text": "Sure.", "tool_calls": [INSERT, RUN]}]
    meta = await answer(router_for(scripted, "openai", tmp_path), ASK, tools=TOOLS)

    assert meta.tool_calls == [
        ToolCall("call_scripted1", "insert_cell", {"source": "print('hello')", "index": 0}),
        ToolCall("call_scripted2", "run_cell", {"cell_id": "c1"}),
    ]
    assert meta.text == "Sure." and meta.finish_reason == "tool_calls" and meta.provider == "scripted"
    body = scripted.last
    assert body["tool_choice"] == "auto"
    assert body["tools"] == [
        {
            "type": "function",
            "function": {"name": t.name, "description": t.description, "parameters": t.parameters},
        }
        for t in TOOLS
    ]


async def test_agent_openai_sends_tool_results_in_the_openai_shape(
    scripted: ScriptedModelServer, tmp_path: Path
) -> None:
    scripted.script = [{"text": "The cell prints hello."}]
    meta = await answer(router_for(scripted, "openai", tmp_path), AFTER_CALL, tools=TOOLS)

    assert meta.text == "The cell prints hello." and meta.tool_calls == [] and meta.finish_reason == "stop"
    assert scripted.last["messages"] == [
        {"role": "system", "content": "You edit notebooks."},
        {"role": "user", "content": "Insert a cell that prints hello."},
        {
            "role": "assistant",
            "content": "Inserting it.",
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {
                        "name": "insert_cell",
                        "arguments": json.dumps({"source": "print('hello')"}),
                    },
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "Inserted cell c1 at index 0."},
    ]


async def test_agent_openai_request_without_tools_is_unchanged(
    scripted: ScriptedModelServer, tmp_path: Path
) -> None:
    scripted.script = [{"text": "Hello."}]
    await answer(router_for(scripted, "openai", tmp_path), ASK, max_tokens=7)
    assert scripted.last == {
        "model": "scripted-model",
        "max_tokens": 7,
        "temperature": 0.0,
        "stream": True,
        "stream_options": {"include_usage": True},
        "messages": [m.as_dict() for m in ASK],
    }


# -- Anthropic ---------------------------------------------------------------------------------------
async def test_agent_anthropic_tool_use_blocks_become_tool_calls(
    scripted: ScriptedModelServer, tmp_path: Path
) -> None:
    scripted.script = [{"text": "Sure.", "tool_calls": [INSERT, RUN]}]
    meta = await answer(router_for(scripted, "anthropic", tmp_path), ASK, tools=TOOLS)

    assert meta.tool_calls == [
        ToolCall("toolu_scripted1", "insert_cell", {"source": "print('hello')", "index": 0}),
        ToolCall("toolu_scripted2", "run_cell", {"cell_id": "c1"}),
    ]
    assert meta.text == "Sure." and meta.finish_reason == "tool_calls"
    body = scripted.last
    assert body["system"] == "You edit notebooks."
    assert body["tools"] == [
        {"name": t.name, "description": t.description, "input_schema": t.parameters} for t in TOOLS
    ]


async def test_agent_anthropic_sends_tool_use_and_merged_tool_results(
    scripted: ScriptedModelServer, tmp_path: Path
) -> None:
    def script(messages: list[dict[str, Any]]) -> dict[str, Any]:
        """Reacts to what the tools answered, the way a model would."""
        results = [m["content"] for m in messages if m["role"] == "tool"]
        return {"text": "Results: " + " | ".join(results)} if results else {"tool_calls": [INSERT]}

    scripted.script = script
    router = router_for(scripted, "anthropic", tmp_path)
    first = await answer(router, ASK, tools=TOOLS)
    assert [c.name for c in first.tool_calls] == ["insert_cell"] and first.text == ""

    two_calls = (ToolCall("toolu_a", "insert_cell", {"source": "x = 1"}), ToolCall("toolu_b", "run_cell", {}))
    history = [
        *ASK,
        ChatMessage("assistant", "", tool_calls=two_calls),
        ChatMessage("tool", "Inserted c1.", tool_call_id="toolu_a"),
        ChatMessage("tool", "Ran c1: ok.", tool_call_id="toolu_b"),
    ]
    second = await answer(router, history, tools=TOOLS)
    assert second.text == "Results: Inserted c1. | Ran c1: ok." and second.tool_calls == []
    assert scripted.last["messages"] == [
        {"role": "user", "content": "Insert a cell that prints hello."},
        {
            "role": "assistant",
            "content": [
                {"type": "tool_use", "id": "toolu_a", "name": "insert_cell", "input": {"source": "x = 1"}},
                {"type": "tool_use", "id": "toolu_b", "name": "run_cell", "input": {}},
            ],
        },
        {
            "role": "user",  # both results in one user turn: the API needs alternation
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_a", "content": "Inserted c1."},
                {"type": "tool_result", "tool_use_id": "toolu_b", "content": "Ran c1: ok."},
            ],
        },
    ]


# -- both --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["openai", "anthropic"])
async def test_agent_malformed_arguments_become_a_tool_call_error(
    kind: Protocol, scripted: ScriptedModelServer, tmp_path: Path
) -> None:
    scripted.script = [
        {
            "tool_calls": [
                {"name": "insert_cell", "arguments": '{"source": "print(1)"'},  # cut short
                {"name": "run_cell", "arguments": '["c1"]'},  # JSON, but not an object
                {"name": "run_cell", "arguments": ""},  # no arguments at all
            ]
        }
    ]
    meta = await answer(router_for(scripted, kind, tmp_path), ASK, tools=TOOLS)

    cut, listed, empty = meta.tool_calls
    assert cut.name == "insert_cell" and cut.arguments == {}
    assert cut.error == 'the arguments were not a JSON object: {"source": "print(1)"'
    assert listed.arguments == {} and listed.error == 'the arguments were not a JSON object: ["c1"]'
    assert empty.arguments == {} and empty.error is None


async def test_agent_stand_in_model_that_ran_out_of_script_fails_visibly(
    scripted: ScriptedModelServer, tmp_path: Path
) -> None:
    scripted.script = [{"text": "Only one turn."}]
    router = router_for(scripted, "openai", tmp_path)
    assert (await answer(router, ASK)).text == "Only one turn."
    with pytest.raises(NoModelAvailable, match="HTTP 500"):
        await answer(router, ASK)
    assert scripted.errors == ["LookupError: the script has no turn 2 (it has 1)"]


# -- the gateway -------------------------------------------------------------------------------------
async def test_agent_gateway_passes_tools_through_both_ways(
    scripted: ScriptedModelServer, tmp_path: Path
) -> None:
    sock, port = bind_unused_port()
    server = HTTPServer(make_app(router_for(scripted, "openai", tmp_path), "gw-token"))
    server.add_sockets([sock])
    tools: Any = [
        {
            "type": "function",
            "function": {"name": t.name, "description": t.description, "parameters": t.parameters},
        }
        for t in TOOLS
    ]
    messages: Any = [
        {"role": "user", "content": "Insert a cell that prints hello."},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "insert_cell", "arguments": '{"source": "x"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "Inserted c1."},
    ]
    scripted.script = [{"tool_calls": [RUN]}, {"tool_calls": [RUN]}]
    try:
        async with openai.AsyncOpenAI(
            base_url=f"http://127.0.0.1:{port}/v1", api_key="gw-token", max_retries=0
        ) as client:
            whole = await client.chat.completions.create(model="agent", messages=messages, tools=tools)
            stream = await client.chat.completions.create(
                model="agent", messages=messages, tools=tools, stream=True
            )
            fragments, finish = [], None
            async for chunk in stream:
                for piece in chunk.choices:
                    fragments += piece.delta.tool_calls or []
                    finish = piece.finish_reason or finish
    finally:
        server.stop()

    choice = whole.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.tool_calls is not None
    (call,) = choice.message.tool_calls
    assert call.type == "function" and call.function.name == "run_cell"
    assert json.loads(call.function.arguments) == {"cell_id": "c1"}
    assert finish == "tool_calls" and len(fragments) == 1
    assert fragments[0].function is not None and fragments[0].function.name == "run_cell"
    assert json.loads(fragments[0].function.arguments or "") == {"cell_id": "c1"}
    for body in scripted.requests:  # what the model behind the gateway received, both times
        assert body["tools"] == tools
        assert body["messages"] == messages


# -- the bundled model, by constrained decoding ---------------------------------------------------
def local_router() -> ModelRouter:
    raw = {
        "providers": {"local": {"kind": "local", "model": "bundled:SmolLM2-135M-Instruct"}},
        "tasks": {
            "agent": {
                "chain": [{"provider": "local", "model": "SmolLM2-135M-Instruct"}],
                "limits": {"timeout_s": 300, "max_tokens": 160},
            }
        },
    }
    return ModelRouter(parse_routing(raw, Path("agent-routing.yaml")))


@pytest.mark.parametrize(
    "messages",
    [
        [ChatMessage("user", "Insert a cell that prints hello")],
        [ChatMessage("user", "Run the cell with id c1")],
        AFTER_CALL,
    ],
    ids=["insert", "run", "after-a-tool-result"],
)
async def test_agent_bundled_model_answers_with_a_valid_call_or_text(
    messages: list[ChatMessage], local_engine: Any
) -> None:
    meta = await answer(local_router(), messages, tools=TOOLS)

    by_name = {t.name: t for t in TOOLS}
    if meta.tool_calls:
        (call,) = meta.tool_calls
        assert call.name in by_name and call.error is None and call.id.startswith("call_")
        jsonschema.validate(call.arguments, by_name[call.name].parameters)  # the grammar held the schema
        assert meta.finish_reason == "tool_calls" and meta.text == ""
    else:
        assert meta.text.strip() and meta.finish_reason != "tool_calls"


async def test_agent_bundled_model_calls_the_insert_tool(local_engine: Any) -> None:
    meta = await answer(local_router(), [ChatMessage("user", "Insert a cell that prints hello")], tools=TOOLS)
    assert [c.name for c in meta.tool_calls] == ["insert_cell"]
    assert isinstance(meta.tool_calls[0].arguments["source"], str)


async def test_agent_shipped_first_step_gateway_to_the_bundled_model(local_engine: Any) -> None:
    """The shipped agent chain starts with a team gateway serving ``nexus-local``: NEXUS's openai
    provider -> the gateway -> the bundled model calling a tool by constrained output, and back."""
    sock, port = bind_unused_port()
    server = HTTPServer(make_app(local_router(), "gw-token"))
    server.add_sockets([sock])
    raw = {
        "providers": {
            "gw": {"kind": "openai", "base_url": f"http://127.0.0.1:{port}/v1", "api_key": "gw-token"}
        },
        "tasks": {
            "agent": {"chain": [{"provider": "gw", "model": "nexus-local"}], "limits": {"max_tokens": 160}}
        },
    }
    try:
        meta = await answer(
            ModelRouter(parse_routing(raw, Path("user.yaml"))),
            [ChatMessage("user", "Insert a cell that prints hello")],
            tools=TOOLS,
        )
    finally:
        server.stop()
    assert meta.provider == "gw" and meta.finish_reason == "tool_calls"
    (call,) = meta.tool_calls
    assert call.name == "insert_cell" and call.error is None and call.id.startswith("call_")
    jsonschema.validate(call.arguments, TOOLS[0].parameters)


def test_agent_constrained_output_reads_back_as_a_call_an_answer_or_text() -> None:
    schema = tool_schema(TOOLS)
    call = read_constrained('{"tool": "run_cell", "arguments": {"cell_id": "c1"}}', TOOLS)
    assert isinstance(call, ToolCall) and (call.name, call.arguments) == ("run_cell", {"cell_id": "c1"})
    jsonschema.validate({"tool": "run_cell", "arguments": {"cell_id": "c1"}}, schema)
    assert read_constrained('{"answer": "two\nlines"}', TOOLS) == Delta("two\nlines")  # raw newline: ok
    assert read_constrained('{"tool": "rm_rf", "arguments": {}}', TOOLS) == Delta(
        '{"tool": "rm_rf", "arguments": {}}'
    )
    assert read_constrained('{"answer": "cut sho', TOOLS) == Delta('{"answer": "cut sho')
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"tool": "run_cell", "arguments": {}}, schema)  # cell_id is required

    seen = constrained_messages(AFTER_CALL, TOOLS)  # what the small model reads
    assert seen[0].role == "system" and seen[0].content.startswith("You edit notebooks.")
    assert "- insert_cell(source: string, index?: integer): Insert a new code cell" in seen[0].content
    assert seen[2] == ChatMessage(
        "assistant", json.dumps({"tool": "insert_cell", "arguments": {"source": "print('hello')"}})
    )
    assert seen[3] == ChatMessage("user", "Result of insert_cell:\nInserted cell c1 at index 0.")


def test_agent_task_is_in_the_shipped_routing() -> None:
    routing = load_routing()
    chain = [(s.provider, s.model) for s in routing.chain("agent")]
    assert chain == [
        ("gateway", "nexus-local"),
        ("openai", "gpt-4o-mini"),
        ("anthropic", "claude-3-5-haiku-latest"),
        ("local", "SmolLM2-135M-Instruct"),
    ]
    limits = routing.limits("agent")
    assert (limits.timeout_s, limits.max_tokens) == (120, 1024)
