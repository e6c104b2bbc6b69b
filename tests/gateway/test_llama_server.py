"""The gateway on a real llama-server (built by ``make llama-server``) with the bundled model, over real
HTTP: the official ``openai`` client, ``stop``, cancel, auth and quotas, parallel slots, a server
killed mid-request and restarted, and the in-process fallback when the binary is missing."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import openai
import pytest
from tornado.httpserver import HTTPServer
from tornado.testing import bind_unused_port

from nexus_server_ext.ai.router import ModelRouter
from nexus_server_ext.ai.routing import load_routing
from nexus_server_ext.gateway import make_app
from nexus_server_ext.gateway.__main__ import load_config, parse_args
from nexus_server_ext.gateway.llama_server import LlamaServer
from nexus_server_ext.gateway.quotas import MemoryUsageStore, QuotaPolicy, UsageStore

TOKEN = "llama-gw-token"
HI = [{"role": "user", "content": "Say hello."}]
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@dataclass
class Served:
    url: str
    llama: LlamaServer

    def client(self, key: str = TOKEN) -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(base_url=self.url, api_key=key, max_retries=0, timeout=60)

    def http(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url, headers=AUTH, timeout=60)

    @property
    def process(self) -> Any:
        [process] = self.llama.processes.values()
        return process

    async def slots_busy(self) -> int:
        """Slots llama-server itself says are decoding (its own /slots, with the gateway's key)."""
        endpoint = self.process.endpoint()
        assert endpoint is not None
        url, key = endpoint
        async with httpx.AsyncClient(trust_env=False) as h:
            r = await h.get(f"{url}/slots", headers={"Authorization": f"Bearer {key}"})
        r.raise_for_status()
        return sum(1 for slot in r.json() if slot.get("is_processing"))


def require_binary() -> None:
    if LlamaServer().find_binary() is None:
        pytest.fail(
            "llama-server is not built on this machine: run `make llama-server` (part of `make install`)"
        )


@pytest.fixture
def serve(monkeypatch: pytest.MonkeyPatch, jp_asyncio_loop: Any) -> Iterator[Callable[..., Served]]:
    """``serve(usage=..., **LlamaServer traits)``: a gateway on its own llama-server (2 slots unless
    told otherwise), stopped after the test."""
    for var in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "NEXUS_GATEWAY_URL", "NEXUS_GATEWAY_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    made: list[tuple[HTTPServer, LlamaServer]] = []

    def make(usage: UsageStore | None = None, **traits: Any) -> Served:
        if "binary" not in traits:
            require_binary()
        llama = LlamaServer(**{"parallel": 2, "ctx_per_slot": 2048, **traits})
        sock, port = bind_unused_port()
        server = HTTPServer(make_app(ModelRouter(load_routing()), TOKEN, usage=usage, llama_server=llama))
        server.add_sockets([sock])
        made.append((server, llama))
        return Served(f"http://127.0.0.1:{port}/v1", llama)

    yield make
    for server, llama in made:
        server.stop()
        jp_asyncio_loop.run_until_complete(llama.aclose())


async def status(served: Served) -> dict[str, Any]:
    async with served.http() as h:
        r = await h.get("/status")
    assert r.status_code == 200
    return dict(r.json())


async def test_the_openai_client_is_answered_by_llama_server(serve: Callable[..., Served]) -> None:
    served = serve()
    async with served.client() as c:
        ids = [m.id async for m in c.models.list()]
        assert "nexus-local" in ids and "code_generation" in ids  # NEXUS's names, not llama-server's
        whole = await c.chat.completions.create(model="nexus-local", messages=HI, max_tokens=8)
        stream = await c.chat.completions.create(
            model="nexus-local",
            messages=HI,
            max_tokens=8,
            stream=True,
            stream_options={"include_usage": True},
        )
        pieces, finish, usage = [], None, None
        async for chunk in stream:
            assert chunk.object == "chat.completion.chunk" and chunk.model == "nexus-local"
            usage = chunk.usage or usage
            for choice in chunk.choices:
                pieces.append(choice.delta.content or "")
                finish = choice.finish_reason or finish
        text = await c.completions.create(model="nexus-local", prompt="def add(a, b):\n", max_tokens=6)
    assert whole.model == "nexus-local" and whole.choices[0].message.role == "assistant"
    assert whole.choices[0].message.content and whole.choices[0].finish_reason == "length"
    assert whole.usage is not None and whole.usage.completion_tokens == 8 and whole.usage.prompt_tokens > 5
    assert "".join(pieces) == whole.choices[0].message.content  # greedy: the same text both ways
    assert finish == "length" and usage is not None and usage.completion_tokens == 8
    assert text.object == "text_completion" and text.choices[0].text and text.usage is not None
    facts = await status(served)
    assert facts["serving"]["mode"] == "llama-server", facts["serving"]
    [engine] = [e for e in facts["engines"] if e["backend"] == "llama_server"]
    assert engine["state"] == "loaded" and engine["slots"] == 2 and engine["loads"] == 1
    async with served.http() as h:
        [mine] = (await h.get("/usage/me")).json()["data"]
    # The ledger holds llama-server's own token counts, request by request.
    assert mine["requests"] == 3 and mine["tokens_out"] == 8 + 8 + text.usage.completion_tokens
    assert mine["tokens_in"] == 2 * whole.usage.prompt_tokens + text.usage.prompt_tokens


async def test_stop_is_honoured(serve: Callable[..., Served]) -> None:
    served = serve()
    async with served.client() as c:
        full = await c.chat.completions.create(model="nexus-local", messages=HI, max_tokens=24)
        words = (full.choices[0].message.content or "").split()
        assert len(words) >= 3, full
        stop = " " + words[2]
        cut = (full.choices[0].message.content or "").split(stop)[0]
        stopped = await c.chat.completions.create(model="nexus-local", messages=HI, max_tokens=24, stop=stop)
        stream = await c.chat.completions.create(
            model="nexus-local", messages=HI, max_tokens=24, stop=[stop], stream=True
        )
        streamed = "".join([ch.choices[0].delta.content or "" async for ch in stream if ch.choices])
    assert stopped.choices[0].message.content == cut and stopped.choices[0].finish_reason == "stop"
    assert streamed == cut


async def test_a_client_that_disconnects_frees_its_slot(serve: Callable[..., Served]) -> None:
    served = serve(parallel=1)  # one slot: a slot left busy would hold up the next request
    long = [{"role": "user", "content": "Write a long story about a robot who learns to paint."}]
    async with served.client() as c:
        stream = await c.chat.completions.create(
            model="nexus-local", messages=long, max_tokens=1500, stream=True
        )
        seen = 0
        async for chunk in stream:
            seen += bool(chunk.choices and chunk.choices[0].delta.content)
            if seen == 3:
                break
        await asyncio.sleep(1.0)
        assert await served.slots_busy() == 1, "the story should go on for more than a second"
        await stream.close()  # the client goes away mid-answer
        closed = time.monotonic()
        while await served.slots_busy():
            assert time.monotonic() - closed < 1, "the slot stayed busy after the client left"
            await asyncio.sleep(0.02)
        started = time.monotonic()
        after = await c.chat.completions.create(model="nexus-local", messages=HI, max_tokens=8)
    assert after.choices[0].message.content and time.monotonic() - started < 5


async def test_a_whole_answer_whose_client_leaves_is_stopped_and_charged(
    serve: Callable[..., Served],
) -> None:
    usage = MemoryUsageStore(QuotaPolicy(requests_per_minute=0, tokens_per_window=100_000, window_s=3600))
    served = serve(usage=usage, parallel=1)
    story = [{"role": "user", "content": "Write a long story about a robot who learns to paint."}]
    body = json.dumps({"model": "nexus-local", "messages": story, "max_tokens": 1500}).encode()
    url = httpx.URL(served.url)
    # A client that gives up on a whole (not streamed) answer: it sends the request, waits two
    # seconds for an answer that has not come, and closes its connection.
    reader, writer = await asyncio.open_connection(url.host, url.port)
    writer.write(
        f"POST {url.path}/chat/completions HTTP/1.1\r\nHost: {url.host}\r\n"
        f"Authorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    await writer.drain()
    with pytest.raises(asyncio.TimeoutError):  # not streamed: nothing comes back until the end
        await asyncio.wait_for(reader.read(1), 2.0)
    writer.close()
    await writer.wait_closed()
    left = time.monotonic()
    while await served.slots_busy():
        assert time.monotonic() - left < 1, "the slot stayed busy after the client left"
        await asyncio.sleep(0.02)
    for _ in range(50):  # the ledger is written as the cancelled request unwinds
        lines = await usage.ledger("token")
        if lines and lines[0].window_tokens:
            break
        await asyncio.sleep(0.02)
    [line] = await usage.ledger("token")
    # about two seconds of decoding were spent on nobody's answer: charged, not free
    assert 5 < line.window_tokens < 1500


async def test_auth_and_quotas_are_the_gateways(serve: Callable[..., Served]) -> None:
    usage = MemoryUsageStore(QuotaPolicy(requests_per_minute=0, tokens_per_window=80, window_s=3600))
    served = serve(usage=usage)
    async with httpx.AsyncClient(base_url=served.url, timeout=60) as anonymous:
        body = {"model": "nexus-local", "messages": HI, "max_tokens": 4}
        assert (await anonymous.post("/chat/completions", json=body)).status_code == 401
        wrong = await anonymous.post("/chat/completions", json=body, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "invalid_api_key"
    async with served.client() as c:
        spent = 0
        with pytest.raises(openai.RateLimitError) as refused:
            for _ in range(10):
                reply = await c.chat.completions.create(model="nexus-local", messages=HI, max_tokens=16)
                assert reply.usage is not None
                spent += reply.usage.total_tokens
    assert spent >= 80 and refused.value.status_code == 429
    assert refused.value.response.json()["error"]["code"] == "quota_exceeded"
    assert 0 < int(refused.value.response.headers["Retry-After"]) <= 3600
    [line] = await usage.ledger("token")
    assert line.window_tokens == spent  # llama-server's counts, charged in full


async def test_two_streams_run_at_the_same_time(serve: Callable[..., Served]) -> None:
    served = serve(parallel=2)
    async with served.client() as c:
        await c.chat.completions.create(model="nexus-local", messages=HI, max_tokens=2)  # warm

        async def one(prompt: str) -> tuple[float, float]:
            messages = [{"role": "user", "content": prompt}]
            stream = await c.chat.completions.create(
                model="nexus-local", messages=messages, max_tokens=48, stream=True
            )
            first = last = 0.0
            async for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    last = time.monotonic()
                    first = first or last
            return first, last

        (a_first, a_last), (b_first, b_last) = await asyncio.gather(
            one("Explain what a Python list is."), one("Write a haiku about the sea.")
        )
    # One at a time, the second stream's first token would come after the first stream's last.
    assert b_first < a_last and a_first < b_last, ((a_first, a_last), (b_first, b_last))


@pytest.mark.timeout(180)
async def test_a_killed_server_answers_503_and_is_restarted(serve: Callable[..., Served]) -> None:
    served = serve(parallel=2, initial_backoff_s=1.0)
    long = [{"role": "user", "content": "Write a long story about a robot who learns to paint."}]
    body = {"model": "nexus-local", "messages": long, "max_tokens": 1500, "temperature": 0.8}
    async with served.http() as h:
        assert (await h.post("/chat/completions", json={**body, "max_tokens": 2})).status_code == 200
        pid = served.process.pid
        whole = asyncio.ensure_future(h.post("/chat/completions", json=body))
        events: list[str] = []
        async with h.stream("POST", "/chat/completions", json={**body, "stream": True}) as r:
            assert r.status_code == 200
            async for line in r.aiter_lines():
                if line.startswith("data:"):
                    events.append(line[5:].strip())
                    if len(events) == 3:  # both are generating now: kill the server
                        os.kill(pid, signal.SIGKILL)
        reply = await asyncio.wait_for(whole, 30)
        assert reply.status_code == 503, reply.text
        assert int(reply.headers["Retry-After"]) >= 1
        error = reply.json()["error"]
        assert error["code"] == "overloaded" and "llama-server" in error["message"]
        # The stream had sent text already: it ends with an error event, not a hang.
        assert "error" in json.loads(events[-1]) and events[-1] != "[DONE]"
        # While it restarts, new requests are told when to come back...
        during = await h.post("/chat/completions", json={**body, "max_tokens": 4})
        if during.status_code == 503:
            assert int(during.headers["Retry-After"]) >= 1
        else:  # ...unless the restart was already done
            assert during.status_code == 200
        deadline = time.monotonic() + 60
        while True:
            again = await h.post("/chat/completions", json={**body, "max_tokens": 4})
            if again.status_code == 200:
                break
            assert again.status_code == 503 and time.monotonic() < deadline, again.text
            await asyncio.sleep(0.2)
    facts = await status(served)
    [server] = facts["serving"]["servers"]
    assert server["state"] == "ready" and server["restarts"] == 1 and server["starts"] == 2
    assert server["pid"] != pid


async def test_without_the_binary_the_gateway_serves_in_process(
    serve: Callable[..., Served], tmp_path: Any
) -> None:
    served = serve(binary=str(tmp_path / "no-such" / "llama-server"))
    facts = await status(served)
    assert facts["serving"]["mode"] == "in-process"
    assert facts["serving"]["message"].startswith(
        "llama-server not found — serving in-process, one sequence at a time; run `make install`"
    )
    async with served.client() as c:
        reply = await c.chat.completions.create(model="nexus-local", messages=HI, max_tokens=4)
    assert reply.choices[0].message.content and reply.usage and reply.usage.completion_tokens == 4
    # The in-process llama.cpp engine answered (earlier tests in this process may have loaded others).
    assert "llama_cpp" in {e["backend"] for e in (await status(served))["engines"]}


async def test_a_server_that_cannot_start_falls_back_in_process(
    serve: Callable[..., Served], tmp_path: Any
) -> None:
    broken = tmp_path / "llama-server"
    broken.write_text("#!/bin/sh\necho 'error: this build does not run here' >&2\nexit 3\n")
    broken.chmod(0o755)
    served = serve(binary=str(broken), initial_backoff_s=0.05)
    async with served.client() as c:
        reply = await c.chat.completions.create(model="nexus-local", messages=HI, max_tokens=4)
    assert reply.choices[0].message.content
    line = (await status(served))["serving"]
    assert line["mode"] == "in-process" and line["message"].startswith("llama-server failed to start (")
    assert "this build does not run here" in line["message"]


def test_settings_come_from_the_command_line_and_a_config_file(tmp_path: Any) -> None:
    config = tmp_path / "gateway_config.py"
    config.write_text("c.LlamaServer.ctx_per_slot = 1024\nc.LlamaServer.parallel = 2\n")
    args = parse_args(["--config", str(config), "--LlamaServer.parallel=3", "--LlamaServer.threads=1"])
    llama = LlamaServer(config=load_config(args))
    assert (llama.parallel, llama.ctx_per_slot, llama.threads) == (3, 1024, 1)
    with pytest.raises(SystemExit):
        parse_args(["--NoSuchThing.x=1"])
