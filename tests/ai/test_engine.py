"""Local engines on the real bundled model: the backend chosen per model, streaming, stop sequences,
loop detection, cancellation within a token step, and a fair, bounded queue."""

from __future__ import annotations

import ast
import asyncio
import time
from contextlib import aclosing
from pathlib import Path
from typing import Any

import pytest

from nexus_server_ext.ai.engines import Engine, EngineBusy
from nexus_server_ext.ai.pipeline import AIPipeline
from nexus_server_ext.ai.router import ModelRouter
from nexus_server_ext.ai.routing import RoutingError, parse_routing
from nexus_server_ext.ai.types import ChatMessage, Delta, GenerationRequest, Usage

LONG = GenerationRequest(
    messages=[ChatMessage("user", "Write a very long story about a dragon, with many chapters.")],
    max_tokens=600,
    stop_loops=False,
)


def short(user: str = "") -> GenerationRequest:
    return GenerationRequest(messages=[ChatMessage("user", "Say hi.")], max_tokens=2, user=user)


async def collect(engine: Engine, request: GenerationRequest) -> tuple[str, Usage]:
    items = [i async for i in engine.stream(request)]
    usage = items[-1]
    assert isinstance(usage, Usage) and all(isinstance(i, Delta) for i in items[:-1])
    return "".join(i.text for i in items[:-1]), usage


async def first_token_seconds(engine: Engine, request: GenerationRequest) -> float:
    started = time.perf_counter()
    async with aclosing(engine.stream(request)) as items:
        async for item in items:
            if isinstance(item, Delta):
                return time.perf_counter() - started
    raise AssertionError("no token")


def test_routing_picks_the_backend_per_model() -> None:
    raw = {
        "providers": {
            "gguf": {"kind": "local"},
            "hf": {"kind": "local", "model": "some/safetensors-model", "device": "cpu"},
            "forced": {"kind": "local", "backend": "transformers", "device": "cpu"},
        },
        "tasks": {"natural_language": {"chain": [{"provider": "gguf", "model": "m"}]}},
    }
    router = ModelRouter(parse_routing(raw, Path("r.yaml")))
    engines = {name: p.engine for name, p in router.providers.items()}  # type: ignore[attr-defined]
    assert engines["gguf"].backend == "llama_cpp"  # the bundled GGUF goes to llama.cpp
    assert engines["hf"].backend == "transformers"  # a safetensors model id to transformers
    assert engines["forced"].backend == "transformers"  # the routing file's choice wins
    assert engines["forced"] is not engines["gguf"]  # one engine per (model, device, backend)
    raw["providers"]["bad"] = {"kind": "local", "backend": "tensorrt"}
    with pytest.raises(RoutingError, match="backend"):
        parse_routing(raw, Path("r.yaml"))


async def test_code_generation_returns_python_that_parses(local_engine: Engine, make_routing: Any) -> None:
    pipeline = AIPipeline(ModelRouter(make_routing({}, [("local", "SmolLM2")])))
    result = await pipeline.generate(
        "code_generation", "Write a Python function add(a, b) that returns the sum of a and b.", max_tokens=60
    )
    assert result.valid and result.provider == "local"
    tree = ast.parse(result.code)
    assert any(isinstance(node, ast.FunctionDef) for node in ast.walk(tree))
    assert local_engine.describe()["state"] == "loaded" and local_engine.backend == "llama_cpp"


async def test_stream_yields_deltas_then_usage(local_engine: Engine) -> None:
    text, usage = await collect(local_engine, GenerationRequest(prompt="def add(a, b):\n", max_tokens=5))
    assert usage.tokens_out == 5 and usage.finish_reason == "length" and usage.tokens_in > 3
    assert text.strip()


async def test_a_stop_sequence_ends_the_answer_just_before_it(local_engine: Engine) -> None:
    counting = GenerationRequest(prompt="1, 2, 3, 4, 5,", max_tokens=16, stop_loops=False)
    free, _ = await collect(local_engine, counting)
    assert " 9" in free, free  # the model counts on past 9 when nothing stops it
    counting.stop = [" 9"]
    stopped, usage = await collect(local_engine, counting)
    assert usage.finish_reason == "stop" and usage.tokens_out < 16
    assert "9" not in stopped and free.startswith(stopped) and stopped.strip().endswith("8,")


async def test_a_model_stuck_in_a_loop_is_stopped_early(local_engine: Engine) -> None:
    loop = "The cat sat on the mat. " * 4
    request = GenerationRequest(prompt=loop, max_tokens=200, repetition_penalty=1.0, stop_loops=False)
    _, unguarded = await collect(local_engine, request)
    assert unguarded.finish_reason == "length"  # left alone it repeats until the token limit
    request.stop_loops = True
    text, guarded = await collect(local_engine, request)
    assert guarded.finish_reason == "repetition" and guarded.tokens_out < 60, (guarded, text)


async def test_cancelling_a_long_generation_frees_the_engine_promptly(local_engine: Engine) -> None:
    idle_ttft = await first_token_seconds(local_engine, short())  # baseline: an idle engine
    received = 0
    async with aclosing(local_engine.stream(LONG)) as items:
        async for item in items:
            received += isinstance(item, Delta)
            if received >= 3:
                break
        cancelled_at = time.perf_counter()
    # the next request starts as soon as the long one stops: within about one token step
    after_cancel = await first_token_seconds(local_engine, short())
    freed = time.perf_counter() - cancelled_at
    print(f"idle TTFT {idle_ttft * 1000:.0f} ms; first token after cancel {after_cancel * 1000:.0f} ms")
    assert after_cancel < 1.5 * idle_ttft + 0.5, (idle_ttft, after_cancel)
    assert freed < 5


async def test_a_cancelled_task_stops_generation(local_engine: Engine) -> None:
    async def consume() -> None:
        async for _ in local_engine.stream(LONG):
            pass

    task = asyncio.ensure_future(consume())
    while local_engine.pending == 0 or task.done():
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.3)
    task.cancel()
    started = time.perf_counter()
    while local_engine.pending:
        await asyncio.sleep(0.01)
        assert time.perf_counter() - started < 5
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_the_queue_is_bounded_and_says_when_to_retry(local_engine: Engine) -> None:
    local_engine.max_queue = 1
    try:
        async with aclosing(local_engine.stream(LONG)) as first:
            await first.__anext__()
            with pytest.raises(EngineBusy, match="busy") as refused:
                await first_token_seconds(local_engine, short())
            assert refused.value.retry_after >= 1 and refused.value.status == 503
    finally:
        local_engine.max_queue = 8
    assert await first_token_seconds(local_engine, short()) > 0


async def test_requests_cancelled_while_they_wait_give_their_place_back_at_once(local_engine: Engine) -> None:
    """Typing fast: each keystroke's completion replaces the last one while the model is still busy.
    The replaced ones were waiting in the queue; their places come back when they are cancelled, not
    when the model gets round to them, so the newest request is never refused as "busy"."""

    async def wait_for_a_token(request: GenerationRequest) -> None:
        async with aclosing(local_engine.stream(request)) as items:
            async for item in items:
                if isinstance(item, Delta):
                    return

    local_engine.max_queue = 3
    try:
        async with aclosing(local_engine.stream(LONG)) as running:
            await running.__anext__()  # the model is busy with this one
            for _ in range(6):  # six stale keystrokes, each waiting behind it, then replaced
                stale = asyncio.ensure_future(wait_for_a_token(short()))
                while local_engine.pending < 2:
                    await asyncio.sleep(0.005)
                stale.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await stale
                assert local_engine.pending == 1  # only the running one: the place came back at once
            newest = asyncio.ensure_future(wait_for_a_token(short()))
            await asyncio.sleep(0.05)
            assert not newest.done() or newest.exception() is None  # queued, not refused
        await asyncio.wait_for(newest, 60)  # and answered once the long one is closed
    finally:
        local_engine.max_queue = 8


async def test_one_users_burst_does_not_starve_another_user(local_engine: Engine) -> None:
    finished: list[str] = []

    async def ask(name: str, user: str) -> None:
        request = GenerationRequest(
            messages=[ChatMessage("user", "Count from one to twenty.")], max_tokens=24, user=user
        )
        await collect(local_engine, request)
        finished.append(name)

    # alice sends three requests before bob sends one; bob is served second, not last
    tasks = [asyncio.ensure_future(ask(f"alice{i}", "alice")) for i in range(1, 4)]
    await asyncio.sleep(0.05)
    tasks.append(asyncio.ensure_future(ask("bob", "bob")))
    await asyncio.gather(*tasks)
    assert set(finished) == {"alice1", "alice2", "alice3", "bob"}  # all answered
    assert finished.index("bob") < finished.index("alice3"), finished
