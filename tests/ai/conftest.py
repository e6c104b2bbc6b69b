"""Fixtures for the AI engine: local HTTP servers speaking the OpenAI and Anthropic streaming
protocols (stand-ins for paid cloud APIs only)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tornado import web
from tornado.httpserver import HTTPServer
from tornado.testing import bind_unused_port

from nexus_server_ext.store.database import Database


class FakeProvider(web.RequestHandler):
    """A paid API's stand-in: ``state`` is shared with the test (what to do, what was received)."""

    def initialize(self, state: dict[str, Any]) -> None:
        self.state = state

    def check_xsrf_cookie(self) -> None:
        return None


class FakeOpenAI(FakeProvider):
    """``/v1/chat/completions`` whose behaviour the test sets: ok, 500, 429, break (mid-stream), malformed.

    ``state['replies']`` maps a model name to what it answers (a list: one answer per request, in turn);
    other models answer ``BROKEN TEXT``. Every request body is kept in ``state['bodies']``."""

    def reply(self, model: str) -> tuple[str, ...]:
        reply = self.state.get("replies", {}).get(model)
        if isinstance(reply, list):
            reply = reply.pop(0) if len(reply) > 1 else reply[0]
        if reply is None:
            return ("BROKEN ", "TEXT ")
        middle = len(reply) // 2
        return (reply[:middle], reply[middle:])

    async def post(self, _path: str) -> None:
        self.state["calls"] += 1
        self.state["last_auth"] = self.request.headers.get("Authorization")
        self.state["last_body"] = json.loads(self.request.body)
        self.state.setdefault("bodies", []).append(self.state["last_body"])
        mode = self.state["mode"]
        if mode in ("500", "429"):
            self.set_status(int(mode))
            if mode == "429":
                self.set_header("Retry-After", "5")
            self.finish({"error": {"message": "upstream trouble"}})
            return
        self.set_header("Content-Type", "text/event-stream")
        if mode == "malformed":
            self.write("data: {not json\n\n")
            self.finish()
            return
        for piece in self.reply(str(self.state["last_body"].get("model"))):
            chunk = {"choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
            self.write(f"data: {json.dumps(chunk)}\n\n")
            await self.flush()
        if mode == "break":  # the connection ends without [DONE]
            self.finish()
            return
        usage = {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
        self.write(f"data: {json.dumps({'choices': [], 'usage': usage})}\n\n")
        self.write("data: [DONE]\n\n")
        self.finish()


class FakeAnthropic(FakeProvider):
    """``/v1/messages`` speaking the Messages streaming protocol."""

    async def post(self, _path: str) -> None:
        self.state["calls"] += 1
        self.state["last_headers"] = dict(self.request.headers)
        self.state["last_body"] = json.loads(self.request.body)
        if self.state.get("anthropic_mode") == "500":
            self.set_status(529)
            self.finish({"type": "error", "error": {"type": "overloaded_error", "message": "busy"}})
            return
        self.set_header("Content-Type", "text/event-stream")
        events: list[tuple[str, dict[str, Any]]] = [
            (
                "message_start",
                {"type": "message_start", "message": {"id": "m1", "usage": {"input_tokens": 11}}},
            ),
            (
                "content_block_start",
                {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
            ),
            ("ping", {"type": "ping"}),
        ]
        for piece in ("def add(a, b):", "\n    return a + b"):
            events.append(
                (
                    "content_block_delta",
                    {
                        "type": "content_block_delta",
                        "index": 0,
                        "delta": {"type": "text_delta", "text": piece},
                    },
                )
            )
        events += [
            ("content_block_stop", {"type": "content_block_stop", "index": 0}),
            (
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": "end_turn"},
                    "usage": {"output_tokens": 9},
                },
            ),
        ]
        if self.state.get("anthropic_mode") != "break":
            events.append(("message_stop", {"type": "message_stop"}))
        for name, data in events:
            self.write(f"event: {name}\ndata: {json.dumps(data)}\n\n")
            await self.flush()
        self.finish()


@pytest.fixture
def fake_server(jp_asyncio_loop: Any) -> Iterator[dict[str, Any]]:
    """A local server with both fakes; ``state['mode']`` picks the behaviour, ``state['url']`` its root."""
    state: dict[str, Any] = {"mode": "ok", "calls": 0}
    app = web.Application(
        [
            (r"/v1/(chat/completions|completions)", FakeOpenAI, {"state": state}),
            (r"/(v1/messages)", FakeAnthropic, {"state": state}),
        ]
    )
    sock, port = bind_unused_port()
    server = HTTPServer(app)
    server.add_sockets([sock])
    state["url"] = f"http://127.0.0.1:{port}"
    yield state
    server.stop()


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    """A migrated SQLite database: where the pipeline records its interactions."""
    database = Database(f"sqlite:///{tmp_path / 'nexus.db'}")
    database.migrate()
    yield database
    database.dispose()
