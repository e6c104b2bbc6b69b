"""The model gateway over real HTTP with the real model: conformance with the official ``openai``
client (streaming and not), bearer-token auth, embeddings, and NEXUS's own openai provider on top."""

from __future__ import annotations

import asyncio
import math
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from tornado.httpserver import HTTPServer
from tornado.testing import bind_unused_port

from nexus_server_ext.ai.router import ModelRouter
from nexus_server_ext.ai.routing import load_routing
from nexus_server_ext.ai.types import ChatMessage, Delta, Done
from nexus_server_ext.gateway import make_app

TOKEN = "gw-test-token"


@pytest.fixture
def gateway(local_engine: Any, monkeypatch: pytest.MonkeyPatch, jp_asyncio_loop: Any) -> Iterator[str]:
    for var in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "NEXUS_GATEWAY_URL", "NEXUS_GATEWAY_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    sock, port = bind_unused_port()
    server = HTTPServer(make_app(ModelRouter(load_routing()), TOKEN))
    server.add_sockets([sock])
    yield f"http://127.0.0.1:{port}/v1"
    server.stop()


def client(base_url: str, key: str = TOKEN) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=base_url, api_key=key, max_retries=0)


HI = [{"role": "user", "content": "Say hello."}]


async def test_models_and_chat_without_streaming(gateway: str) -> None:
    async with client(gateway) as c:
        ids = [m.id async for m in c.models.list()]
        assert "nexus-local" in ids and "code_generation" in ids
        reply = await c.chat.completions.create(model="nexus-local", messages=HI, max_tokens=5, temperature=0)
    assert reply.object == "chat.completion" and reply.choices[0].message.role == "assistant"
    assert reply.choices[0].message.content and reply.choices[0].finish_reason in ("stop", "length")
    assert reply.usage is not None and reply.usage.completion_tokens == 5 and reply.usage.prompt_tokens > 0


async def test_chat_streaming_matches_greedy_non_streaming(gateway: str) -> None:
    async with client(gateway) as c:
        whole = await c.chat.completions.create(model="nexus-local", messages=HI, max_tokens=6)
        stream = await c.chat.completions.create(
            model="nexus-local",
            messages=HI,
            max_tokens=6,
            stream=True,
            stream_options={"include_usage": True},
        )
        pieces, finish, usage = [], None, None
        async for chunk in stream:
            assert chunk.object == "chat.completion.chunk"
            if chunk.usage:
                usage = chunk.usage
            for choice in chunk.choices:
                pieces.append(choice.delta.content or "")
                finish = choice.finish_reason or finish
    assert "".join(pieces) == whole.choices[0].message.content  # greedy: the same text both ways
    assert finish == "length" and usage is not None and usage.completion_tokens == 6


async def test_text_completions_both_ways(gateway: str) -> None:
    async with client(gateway) as c:
        whole = await c.completions.create(model="nexus-local", prompt="def add(a, b):\n", max_tokens=5)
        text = "".join(
            [
                ch.choices[0].text
                async for ch in await c.completions.create(
                    model="nexus-local", prompt="def add(a, b):\n", max_tokens=5, stream=True
                )
                if ch.choices
            ]
        )
    assert whole.object == "text_completion" and whole.choices[0].text and text == whole.choices[0].text


async def test_stop_ends_the_answer_where_the_client_asked(gateway: str) -> None:
    """``stop`` (a string or a list), in chat and text completions, streamed or not: the answer is the
    greedy answer up to the stop sequence, without it, and ``finish_reason`` is ``stop``."""
    async with client(gateway) as c:
        full = await c.chat.completions.create(model="nexus-local", messages=HI, max_tokens=24, temperature=0)
        text = full.choices[0].message.content or ""
        words = text.split()
        assert len(words) >= 3, text
        stop = " " + words[2]  # a sequence the greedy answer really contains
        cut = text[: text.index(stop)]
        stopped = await c.chat.completions.create(
            model="nexus-local", messages=HI, max_tokens=24, temperature=0, stop=stop
        )
        assert stopped.choices[0].message.content == cut and stopped.choices[0].finish_reason == "stop"
        stream = await c.chat.completions.create(
            model="nexus-local", messages=HI, max_tokens=24, temperature=0, stop=[stop], stream=True
        )
        pieces = [ch.choices[0].delta.content or "" async for ch in stream if ch.choices]
        assert "".join(pieces) == cut
        prompt = "def add(a, b):\n"
        whole = await c.completions.create(model="nexus-local", prompt=prompt, max_tokens=12, temperature=0)
        body = whole.choices[0].text
        assert len(body) > 4, body
        marker = body[2:4]
        short = await c.completions.create(
            model="nexus-local", prompt=prompt, max_tokens=12, temperature=0, stop=[marker]
        )
    assert short.choices[0].text == body[: body.index(marker)]
    assert short.choices[0].finish_reason == "stop"


async def test_embeddings(gateway: str) -> None:
    async with client(gateway) as c:
        reply = await c.embeddings.create(model="all-MiniLM-L6-v2", input=["a cat", "a kitten", "tax law"])
    vectors = [d.embedding for d in reply.data]
    assert len(vectors) == 3 and all(len(v) == 384 for v in vectors)
    assert math.isclose(sum(x * x for x in vectors[0]), 1.0, rel_tol=1e-4)

    def cos(a: list[float], b: list[float]) -> float:
        return sum(x * y for x, y in zip(a, b, strict=True))

    assert cos(vectors[0], vectors[1]) > cos(vectors[0], vectors[2])
    assert reply.model == "all-MiniLM-L6-v2"


async def test_embeddings_name_the_model_that_made_them(gateway: str) -> None:
    """The reply names the real model, whatever alias was asked; another model is a 404, not a substitute."""
    async with client(gateway) as c:
        by_task = await c.embeddings.create(model="embeddings", input="a cat")
        assert by_task.model == "all-MiniLM-L6-v2"
        with pytest.raises(openai.NotFoundError, match="this gateway embeds with all-MiniLM-L6-v2"):
            await c.embeddings.create(model="text-embedding-3-small", input="a cat")


async def test_auth_and_errors(gateway: str) -> None:
    async with client(gateway, "wrong") as c:
        with pytest.raises(openai.AuthenticationError):
            await c.models.list()
    async with client(gateway) as c:
        with pytest.raises(openai.NotFoundError):
            await c.chat.completions.create(model="gpt-nope", messages=HI, max_tokens=2)
        with pytest.raises(openai.BadRequestError, match="messages"):
            await c.chat.completions.create(model="nexus-local", messages=[], max_tokens=2)
    async with httpx.AsyncClient() as h:
        r = await h.post(
            f"{gateway}/chat/completions", content=b"{", headers={"Authorization": f"Bearer {TOKEN}"}
        )
        assert r.status_code == 400 and r.json()["error"]["message"] == "The request body is not valid JSON."
        r = await h.get(f"{gateway}/models")
        assert r.status_code == 401


async def test_nexus_openai_provider_streams_from_the_gateway(gateway: str, make_routing: Any) -> None:
    spec = {"gw": {"kind": "openai", "base_url": gateway, "api_key": TOKEN}}
    router = ModelRouter(make_routing(spec, [("gw", "nexus-local")]))
    events = [
        e async for e in router.stream("natural_language", [ChatMessage("user", "Say hello.")], max_tokens=5)
    ]
    done = events[-1]
    assert isinstance(done, Done) and done.meta.provider == "gw" and done.meta.tokens_out == 5
    assert "".join(e.text for e in events if isinstance(e, Delta)) == done.meta.text != ""


def test_cli_serves_without_loading_a_model(unused_port: int) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "nexus_server_ext.gateway", "--port", str(unused_port), "--token", TOKEN],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                r = httpx.get(
                    f"http://127.0.0.1:{unused_port}/v1/models", headers={"Authorization": f"Bearer {TOKEN}"}
                )
                break
            except httpx.ConnectError:
                assert time.monotonic() < deadline and proc.poll() is None
                time.sleep(0.2)
        assert r.status_code == 200 and "nexus-local" in [m["id"] for m in r.json()["data"]]
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
    assert "listening" in out and "Loading weights" not in out


async def test_an_overloaded_engine_answers_503_with_retry_after(gateway: str, local_engine: Any) -> None:
    """The gateway serves the same engines: past the queue bound it says when to come back."""
    local_engine.max_queue = 1
    body = {"model": "nexus-local", "messages": HI, "max_tokens": 40}
    try:
        async with httpx.AsyncClient(
            base_url=gateway, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=120
        ) as http:
            replies = await asyncio.gather(
                *(http.post("/chat/completions", json={**body, "stream": i % 2 == 0}) for i in range(4))
            )
    finally:
        local_engine.max_queue = 8
    codes = sorted(r.status_code for r in replies)
    assert codes[0] == 200 and 503 in codes, codes
    for r in replies:
        if r.status_code == 503:
            assert int(r.headers["Retry-After"]) >= 1
            assert r.json()["error"]["code"] == "overloaded"
