"""The transformers backend, on a CPU-sized randomly initialised Llama (no download): continuous
batching (transformers' own manager, paged KV cache) decodes several streams at once, frees a
cancelled one, and the sequential path counts and stops like the others. The speed on CUDA is
measured by ``bench/engine.py --device cuda``, not here."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest

from nexus_server_ext.ai.engines import resolve_source
from nexus_server_ext.ai.engines.transformers import TransformersEngine
from nexus_server_ext.ai.types import ChatMessage, Delta, GenerationRequest, Usage


@pytest.fixture(scope="module")
def tiny() -> tuple[Any, Any]:
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    directory, gguf = resolve_source("")
    tokenizer = AutoTokenizer.from_pretrained(directory, gguf_file=gguf)
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        eos_token_id=-1,  # never stops early: every stream runs to its token limit
    )
    return LlamaForCausalLM(config).eval(), tokenizer


def engine_on(tiny: tuple[Any, Any], batching: bool) -> TransformersEngine:
    model, tokenizer = tiny
    engine = TransformersEngine(f"tiny-{batching}", "cpu", max_queue=16, options={"batching": batching})
    engine.model, engine.tokenizer, engine.device = model, tokenizer, "cpu"
    if batching:
        engine._start_batching()
    engine.state = "loaded"
    return engine


@pytest.fixture(scope="module")
def batched(tiny: tuple[Any, Any]) -> Iterator[TransformersEngine]:
    engine = engine_on(tiny, batching=True)
    yield engine
    engine.manager.stop(block=True)


def request(i: int, n: int) -> GenerationRequest:
    return GenerationRequest(
        messages=[ChatMessage("user", f"Question number {i}?")],
        max_tokens=n,
        repetition_penalty=1.0,
        stop_loops=False,
        user=f"user{i}",
    )


async def run(engine: TransformersEngine, req: GenerationRequest) -> tuple[float, float, Usage, str]:
    """(time of the first token, time of the end, usage, text)."""
    first, text = 0.0, ""
    async for item in engine.stream(req):
        if isinstance(item, Delta):
            first = first or time.perf_counter()
            text += item.text
        else:
            return first, time.perf_counter(), item, text
    raise AssertionError("no usage")


async def test_continuous_batching_serves_streams_at_the_same_time(batched: TransformersEngine) -> None:
    results = await asyncio.gather(*(run(batched, request(i, 40)) for i in range(4)))
    assert all(usage.tokens_out == 40 and usage.finish_reason == "length" for *_, usage, _ in results)
    assert all(text for *_, text in results)
    # batched: every stream has its first token before any stream is done (one at a time would not)
    assert max(first for first, *_ in results) < min(end for _, end, *_ in results)
    assert batched.pending == 0


async def test_cancelling_one_batched_stream_leaves_the_others(batched: TransformersEngine) -> None:
    async def cancel_early() -> int:
        received = 0
        async for item in batched.stream(request(9, 400)):
            received += isinstance(item, Delta)
            if received == 3:
                break
        return received

    others = [asyncio.ensure_future(run(batched, request(i, 30))) for i in range(3)]
    assert await cancel_early() == 3
    results = await asyncio.gather(*others)
    assert all(usage.tokens_out == 30 for *_, usage, _ in results)
    deadline = time.perf_counter() + 5
    while batched.pending and time.perf_counter() < deadline:
        await asyncio.sleep(0.01)
    assert batched.pending == 0  # the cancelled sequence was released


async def test_sequential_transformers_path_counts_and_stops(tiny: tuple[Any, Any]) -> None:
    engine = engine_on(tiny, batching=False)
    _, _, usage, text = await run(engine, request(1, 12))
    assert usage.tokens_out == 12 and usage.finish_reason == "length" and text
    stop_at = text[len(text) // 2 : len(text) // 2 + 3]
    stopped = request(1, 12)
    stopped.stop = [stop_at]
    _, _, usage, cut = await run(engine, stopped)
    assert usage.finish_reason == "stop" and stop_at not in cut and text.startswith(cut)
