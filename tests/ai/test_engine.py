"""The local provider on the real bundled model: valid Python, streaming, a bounded queue, and
cancellation that frees the engine within a token step (measured)."""

from __future__ import annotations

import ast
import asyncio
import time
from contextlib import aclosing
from typing import Any

import pytest

from nexus_server_ext.ai.engine import EngineBusy, LocalEngine
from nexus_server_ext.ai.pipeline import AIPipeline
from nexus_server_ext.ai.router import ModelRouter
from nexus_server_ext.ai.types import ChatMessage, Delta, GenerationRequest, Usage

LONG = GenerationRequest(
    messages=[ChatMessage("user", "Write a very long story about a dragon, with many chapters.")],
    max_tokens=600,
)


def short() -> GenerationRequest:
    return GenerationRequest(messages=[ChatMessage("user", "Say hi.")], max_tokens=2)


async def first_token_seconds(engine: LocalEngine, request: GenerationRequest) -> float:
    started = time.perf_counter()
    async with aclosing(engine.stream(request)) as items:
        async for item in items:
            if isinstance(item, Delta):
                return time.perf_counter() - started
    raise AssertionError("no token")


async def test_code_generation_returns_python_that_parses(
    local_engine: LocalEngine, make_routing: Any
) -> None:
    pipeline = AIPipeline(ModelRouter(make_routing({}, [("local", "SmolLM2")])))
    result = await pipeline.generate(
        "code_generation", "Write a Python function add(a, b) that returns the sum of a and b.", max_tokens=40
    )
    assert result.valid and result.provider == "local"
    tree = ast.parse(result.code)
    assert any(isinstance(node, ast.FunctionDef) for node in ast.walk(tree))
    assert local_engine.describe()["state"] == "loaded" and local_engine.device == "cpu"


async def test_stream_yields_deltas_then_usage(local_engine: LocalEngine) -> None:
    items = [i async for i in local_engine.stream(GenerationRequest(prompt="def add(a, b):\n", max_tokens=5))]
    assert all(isinstance(i, Delta) for i in items[:-1]) and isinstance(items[-1], Usage)
    usage = items[-1]
    assert usage.tokens_out == 5 and usage.finish_reason == "length" and usage.tokens_in > 3
    assert "".join(i.text for i in items[:-1]).strip()


async def test_cancelling_a_long_generation_frees_the_engine_promptly(local_engine: LocalEngine) -> None:
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
    # waiting in the queue behind the cancelled request costs at most about one token step;
    # the slack covers other processes competing for the same CPU cores
    assert after_cancel < 1.5 * idle_ttft + 1.0, (idle_ttft, after_cancel)
    assert freed < 600 / 10  # 600 tokens would take far longer than this on any machine


async def test_a_cancelled_task_stops_generation(local_engine: LocalEngine) -> None:
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


async def test_the_queue_is_bounded(local_engine: LocalEngine) -> None:
    local_engine.max_queue = 1
    try:
        async with aclosing(local_engine.stream(LONG)) as first:
            await first.__anext__()
            with pytest.raises(EngineBusy, match="busy"):
                await first_token_seconds(local_engine, short())
    finally:
        local_engine.max_queue = 8
    assert await first_token_seconds(local_engine, short()) > 0
