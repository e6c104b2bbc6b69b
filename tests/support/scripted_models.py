"""A scripted stand-in for a tool-calling model, speaking the OpenAI and Anthropic streaming protocols.

Paid APIs are never called from tests; this real HTTP server answers in their
place, from a script. A script is a list of turns, one per request, in order:

    {"text": "Done."}                                                     # a text answer
    {"tool_calls": [{"name": "insert_cell", "arguments": {"source": "x"}}]}  # calls (optional "id";
                                                                            # "arguments" as a string
                                                                            # is sent as-is: malformed)
    {"text": "...", "tool_calls": [...]}                                  # both
    {"status": 500}                                                       # an HTTP failure

or a callable ``script(messages) -> turn`` that sees each request's conversation
in one shape for both protocols (``{role, content, tool_calls: [{id, name,
arguments}], tool_call_id}``, system turns included), so a test can react to
tool results. Every request body is kept in ``requests``.

``with ScriptedModelServer(script) as server:`` (or ``async with``) serves on
its own thread and event loop, so async tests, the in-process Jupyter server
and browser tests can all use it. ``server.url`` is the OpenAI base URL (with
``/v1``), ``server.anthropic_url`` the Anthropic one; ``scripted_routing``
writes a routing file whose chain points at it.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from tornado import web
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets
from tornado.testing import bind_unused_port

Turn = dict[str, Any]
Script = list[Turn] | Callable[[list[dict[str, Any]]], Turn]
Protocol = Literal["openai", "anthropic"]


def _pieces(text: str, count: int) -> list[str]:
    """``text`` in ``count`` pieces (fewer when it is shorter): how models stream."""
    if not text:
        return []
    size = max(1, -(-len(text) // count))
    return [text[i : i + size] for i in range(0, len(text), size)]


def _arguments(call: dict[str, Any]) -> str:
    arguments = call.get("arguments", {})
    return arguments if isinstance(arguments, str) else json.dumps(arguments)


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _text(content: Any) -> str:
    if isinstance(content, list):
        return "".join(
            str(b.get("text", "")) for b in content if isinstance(b, dict) and b.get("type") == "text"
        )
    return "" if content is None else str(content)


def _turn(
    role: str, content: str, calls: list[dict[str, Any]] | None = None, call_id: Any = None
) -> dict[str, Any]:
    return {"role": role, "content": content, "tool_calls": calls or [], "tool_call_id": call_id}


def openai_messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    """An OpenAI request's conversation in the script's shape."""
    out = []
    for m in body.get("messages") or []:
        calls = [
            {
                "id": c.get("id"),
                "name": c["function"]["name"],
                "arguments": _loads(c["function"]["arguments"]),
            }
            for c in m.get("tool_calls") or []
        ]
        out.append(_turn(m["role"], _text(m.get("content")), calls, m.get("tool_call_id")))
    return out


def anthropic_messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    """An Anthropic request's conversation in the script's shape (tool results become ``tool`` turns)."""
    out = [_turn("system", _text(body["system"]))] if body.get("system") else []
    for m in body.get("messages") or []:
        content = m.get("content")
        blocks = content if isinstance(content, list) else [{"type": "text", "text": content or ""}]
        results = [b for b in blocks if b.get("type") == "tool_result"]
        out += [_turn("tool", _text(b.get("content")), call_id=b.get("tool_use_id")) for b in results]
        calls = [
            {"id": b.get("id"), "name": b.get("name"), "arguments": b.get("input")}
            for b in blocks
            if b.get("type") == "tool_use"
        ]
        text = _text(blocks)
        if text or calls or not results:
            out.append(_turn(m["role"], text, calls))
    return out


class _Scripted(web.RequestHandler):
    protocol: Protocol = "openai"

    def initialize(self, server: ScriptedModelServer) -> None:
        self.server = server

    def check_xsrf_cookie(self) -> None:
        return None

    async def post(self) -> None:
        body = json.loads(self.request.body)
        self.server.requests.append(body)
        self.server.protocols.append(self.protocol)
        convert = openai_messages if self.protocol == "openai" else anthropic_messages
        try:
            turn = self.server.next_turn(convert(body))
        except Exception as exc:  # a script that ran out, or failed: a visible upstream error
            self.server.errors.append(f"{type(exc).__name__}: {exc}")
            self.set_status(500)
            self.finish({"error": {"type": "server_error", "message": str(exc)}})
            return
        if turn.get("status"):
            self.set_status(int(turn["status"]))
            self.finish({"error": {"type": "server_error", "message": "scripted failure"}})
            return
        ids = [str(c.get("id") or self.server.call_id(self.protocol)) for c in turn.get("tool_calls") or []]
        if body.get("stream"):
            self.set_header("Content-Type", "text/event-stream")
            self.set_header("Cache-Control", "no-cache")
            for event in self.events(body, turn, ids):
                self.write(event)
                await self.flush()
            self.finish()
        else:
            self.finish(self.whole(body, turn, ids))

    def events(self, body: dict[str, Any], turn: Turn, ids: list[str]) -> list[str]:
        raise NotImplementedError

    def whole(self, body: dict[str, Any], turn: Turn, ids: list[str]) -> dict[str, Any]:
        raise NotImplementedError


class _OpenAI(_Scripted):
    protocol = "openai"

    def events(self, body: dict[str, Any], turn: Turn, ids: list[str]) -> list[str]:
        model, pieces = body.get("model", "scripted"), self.server.pieces

        def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
            choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
            data = {
                "id": "chatcmpl-scripted",
                "object": "chat.completion.chunk",
                "model": model,
                "choices": [choice],
            }
            return f"data: {json.dumps(data)}\n\n"

        out = [chunk({"role": "assistant", "content": ""})]
        out += [chunk({"content": p}) for p in _pieces(turn.get("text", ""), pieces)]
        for index, (call, call_id) in enumerate(zip(turn.get("tool_calls") or [], ids, strict=True)):
            first = {
                "index": index,
                "id": call_id,
                "type": "function",
                "function": {"name": call["name"], "arguments": ""},
            }
            out.append(chunk({"tool_calls": [first]}))
            for piece in _pieces(_arguments(call), pieces):
                out.append(chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]}))
        out.append(chunk({}, "tool_calls" if ids else "stop"))
        usage = {"prompt_tokens": 10, "completion_tokens": len(out), "total_tokens": 10 + len(out)}
        out.append(f"data: {json.dumps({'id': 'chatcmpl-scripted', 'choices': [], 'usage': usage})}\n\n")
        return [*out, "data: [DONE]\n\n"]

    def whole(self, body: dict[str, Any], turn: Turn, ids: list[str]) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": turn.get("text") or None}
        if ids:
            message["tool_calls"] = [
                {"id": i, "type": "function", "function": {"name": c["name"], "arguments": _arguments(c)}}
                for c, i in zip(turn["tool_calls"], ids, strict=True)
            ]
        choice = {"index": 0, "message": message, "finish_reason": "tool_calls" if ids else "stop"}
        usage = {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
        return {
            "id": "chatcmpl-scripted",
            "object": "chat.completion",
            "model": body.get("model"),
            "choices": [choice],
            "usage": usage,
        }


class _Anthropic(_Scripted):
    protocol = "anthropic"

    def events(self, body: dict[str, Any], turn: Turn, ids: list[str]) -> list[str]:
        def event(name: str, **data: Any) -> str:
            return f"event: {name}\ndata: {json.dumps({'type': name, **data})}\n\n"

        message: dict[str, Any] = {
            "id": "msg_scripted",
            "type": "message",
            "role": "assistant",
            "content": [],
            "model": body.get("model"),
            "usage": {"input_tokens": 10, "output_tokens": 1},
        }
        out = [event("message_start", message=message), event("ping")]
        index = 0
        if turn.get("text"):
            out.append(event("content_block_start", index=0, content_block={"type": "text", "text": ""}))
            for piece in _pieces(turn["text"], self.server.pieces):
                out.append(event("content_block_delta", index=0, delta={"type": "text_delta", "text": piece}))
            out.append(event("content_block_stop", index=0))
            index = 1
        for offset, (call, call_id) in enumerate(zip(turn.get("tool_calls") or [], ids, strict=True)):
            i = index + offset
            block = {"type": "tool_use", "id": call_id, "name": call["name"], "input": {}}
            out.append(event("content_block_start", index=i, content_block=block))
            for piece in _pieces(_arguments(call), self.server.pieces):
                out.append(
                    event(
                        "content_block_delta",
                        index=i,
                        delta={"type": "input_json_delta", "partial_json": piece},
                    )
                )
            out.append(event("content_block_stop", index=i))
        stop = "tool_use" if ids else "end_turn"
        out.append(
            event(
                "message_delta",
                delta={"stop_reason": stop, "stop_sequence": None},
                usage={"output_tokens": len(out)},
            )
        )
        return [*out, event("message_stop")]

    def whole(self, body: dict[str, Any], turn: Turn, ids: list[str]) -> dict[str, Any]:
        content: list[dict[str, Any]] = [{"type": "text", "text": turn["text"]}] if turn.get("text") else []
        content += [
            {"type": "tool_use", "id": i, "name": c["name"], "input": _loads(_arguments(c))}
            for c, i in zip(turn.get("tool_calls") or [], ids, strict=True)
        ]
        return {
            "id": "msg_scripted",
            "type": "message",
            "role": "assistant",
            "model": body.get("model"),
            "content": content,
            "stop_reason": "tool_use" if ids else "end_turn",
            "usage": {"input_tokens": 10, "output_tokens": 5},
        }


class _Models(web.RequestHandler):
    """``GET /v1/models``, which both protocols serve: what a health probe asks (counted in ``probes``)."""

    def initialize(self, server: ScriptedModelServer) -> None:
        self.server = server

    def get(self) -> None:
        self.server.probes += 1
        self.finish(
            {"object": "list", "data": [{"id": "scripted-model", "object": "model", "type": "model"}]}
        )


class ScriptedModelServer:
    """A model that answers from ``script`` over real HTTP, on its own thread.

    ``pieces``: how many chunks each text and each call's arguments are streamed in.
    ``url``: the OpenAI base URL (``http://127.0.0.1:PORT/v1``); ``anthropic_url``: the Anthropic one
    (no ``/v1``); ``requests``: every request body, in order (``protocols``: which API each came to);
    ``errors``: what went wrong answering (a script that ran out: the client got a 500); ``probes``:
    how many ``GET /v1/models`` it answered. ``stop()`` then ``start()`` serves again on the same port.
    """

    def __init__(self, script: Script, *, pieces: int = 3) -> None:
        self._script = script
        self.pieces = pieces
        self.requests: list[dict[str, Any]] = []
        self.protocols: list[Protocol] = []
        self.errors: list[str] = []
        self.probes = 0
        self.port = 0
        self._turn = 0
        self._calls = 0
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- addresses and what was received --------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def anthropic_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def base_url(self, kind: Protocol) -> str:
        return self.url if kind == "openai" else self.anthropic_url

    @property
    def last(self) -> dict[str, Any]:
        """The latest request body."""
        return self.requests[-1]

    def messages(self, index: int = -1) -> list[dict[str, Any]]:
        """Request ``index``'s conversation in the script's shape (whichever protocol it came by)."""
        convert = openai_messages if self.protocols[index] == "openai" else anthropic_messages
        return convert(self.requests[index])

    # -- answering -------------------------------------------------------------------------------------
    @property
    def script(self) -> Script:
        """What the model answers; setting a new one starts it from its first turn."""
        return self._script

    @script.setter
    def script(self, script: Script) -> None:
        self._script, self._turn = script, 0

    def next_turn(self, messages: list[dict[str, Any]]) -> Turn:
        script = self._script
        if callable(script):
            return script(messages)
        if self._turn >= len(script):
            raise LookupError(f"the script has no turn {self._turn + 1} (it has {len(script)})")
        self._turn += 1
        return script[self._turn - 1]

    def call_id(self, protocol: Protocol) -> str:
        self._calls += 1
        return f"{'call' if protocol == 'openai' else 'toolu'}_scripted{self._calls}"

    # -- running ---------------------------------------------------------------------------------------
    def start(self) -> ScriptedModelServer:
        self._ready.clear()
        self._thread = threading.Thread(target=self._serve, name="scripted-model", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the scripted model server did not start")
        return self

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)
        self._thread = self._loop = None

    def _serve(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        args = {"server": self}
        app = web.Application(
            [
                (r"/v1/chat/completions", _OpenAI, args),
                (r"/v1/messages", _Anthropic, args),
                (r"/v1/models", _Models, args),
            ]
        )
        if self.port:  # started again: the same address, so routing files still point here
            sockets = bind_sockets(self.port, "127.0.0.1")
        else:
            sock, self.port = bind_unused_port()
            sockets = [sock]
        server = HTTPServer(app)
        server.add_sockets(sockets)
        self._loop = loop
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            server.stop()
            loop.run_until_complete(server.close_all_connections())
            loop.close()

    def __enter__(self) -> ScriptedModelServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> ScriptedModelServer:
        return self.start()

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.to_thread(self.stop)


def scripted_routing(
    server: ScriptedModelServer,
    kind: Protocol = "openai",
    *,
    tasks: tuple[str, ...] = ("agent",),
    model: str = "scripted-model",
    local_fallback: bool = False,
    max_tokens: int = 1024,
    timeout_s: int = 60,
) -> str:
    """Routing YAML whose ``tasks`` chain is the scripted model (as a ``kind`` provider named
    ``scripted``), then the bundled model when ``local_fallback``."""
    lines = [
        "providers:",
        f"  scripted: {{kind: {kind}, base_url: {json.dumps(server.base_url(kind))}, api_key: scripted-key}}",
    ]
    chain = [f"{{provider: scripted, model: {json.dumps(model)}}}"]
    if local_fallback:
        lines.append('  local: {kind: local, model: "bundled:SmolLM2-135M-Instruct"}')
        chain.append("{provider: local, model: SmolLM2-135M-Instruct}")
    lines.append("tasks:")
    for task in tasks:
        lines += [
            f"  {task}:",
            f"    chain: [{', '.join(chain)}]",
            f"    limits: {{timeout_s: {timeout_s}, max_tokens: {max_tokens}}}",
        ]
    return "\n".join(lines) + "\n"


def write_scripted_routing(
    path: str | Path, server: ScriptedModelServer, kind: Protocol = "openai", **options: Any
) -> Path:
    """``scripted_routing`` written to ``path`` (for ``NexusApp.routing_file``)."""
    target = Path(path)
    target.write_text(scripted_routing(server, kind, **options), encoding="utf-8")
    return target
