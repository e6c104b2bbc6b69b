"""The NEXUS local engine against its baseline, in one run, same model, prompt and token count.

CPU (default): the NEXUS llama.cpp engine (fair queue, thread hand-off, stop and loop guards,
cancellation checks) against raw llama-cpp-python on the same GGUF, all greedy with the same
repeat penalty: once with llama-cpp-python's default threads, and once with the engine's thread
count (the baseline for the goals, so the difference is NEXUS's own overhead).
Goals: tokens/s ratio >= 0.95, first-token overhead <= 20 ms, load < 1 s.
``--with-transformers`` adds the transformers backend on the same GGUF (the engine NEXUS used before).

CUDA (``--device cuda``): the transformers backend with continuous batching against plain
``model.generate`` for a 0.5B-class model: single-stream decode and the aggregate of 32 streams.
``--model`` takes a local model folder; without one a randomly initialised Qwen2-0.5B-shaped model
is used (no download; speed does not depend on the weights' values).

  python bench/engine.py [--max-tokens 128] [--repeats 3] [--with-transformers]
  python bench/engine.py --device cuda [--model DIR] [--streams 32]
  python bench/engine.py --tiny --max-tokens 16 --streams 4   # the batching path, smoke-run on a CPU
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
from typing import Any

PROMPTS = [
    "Write a Python function that reverses a string.",
    "Explain what a Python list comprehension is, with an example.",
    "Write a function that returns the n-th Fibonacci number.",
]


def median(values: list[float]) -> float:
    return round(statistics.median(values), 3)


def speed(runs: list[tuple[float, int, float]]) -> dict[str, float]:
    """runs: (first-token s, tokens, total s) -> median TTFT and decode tokens/s."""
    return {
        "ttft_ms": round(statistics.median(r[0] for r in runs) * 1000, 1),
        "tokens_per_s": round(statistics.median((r[1] - 1) / max(r[2] - r[0], 1e-9) for r in runs), 1),
        "tokens": statistics.median(r[1] for r in runs),
    }


# -- CPU: NEXUS llama.cpp engine vs raw llama.cpp ----------------------------------------------------
def raw_llama_run(llm: Any, prompt: str, n: int) -> tuple[float, int, float]:
    started = time.perf_counter()
    first, tokens = 0.0, 0
    for chunk in llm.create_chat_completion(
        [{"role": "user", "content": prompt}], max_tokens=n, temperature=0.0, repeat_penalty=1.1, stream=True
    ):
        if chunk["choices"][0]["delta"].get("content"):
            tokens += 1
            first = first or time.perf_counter() - started
    return first, tokens, time.perf_counter() - started


async def engine_run(engine: Any, prompt: str, n: int) -> tuple[float, int, float]:
    from nexus_server_ext.ai.types import ChatMessage, Delta, GenerationRequest, Usage

    request = GenerationRequest(messages=[ChatMessage("user", prompt)], max_tokens=n, repetition_penalty=1.1)
    started = time.perf_counter()
    first, tokens = 0.0, 0
    async for item in engine.stream(request):
        if isinstance(item, Delta):
            first = first or time.perf_counter() - started
        elif isinstance(item, Usage):
            tokens = item.tokens_out
    return first, tokens, time.perf_counter() - started


def raw_child(path: str, threads: int, n: int) -> list[tuple[float, int, float]]:
    """Raw llama.cpp in a process of its own (two llama.cpp thread teams in one process slow each
    other down, which would flatter neither side); ``threads`` 0 means llama-cpp-python's defaults."""
    import subprocess
    import sys

    code = (
        "import json, sys, llama_cpp; sys.path.insert(0, sys.argv[1]); import engine as b; "
        "t = int(sys.argv[3]); kw = dict(n_threads=t, n_threads_batch=t) if t else {}; "
        "llm = llama_cpp.Llama(model_path=sys.argv[2], n_ctx=4096, verbose=False, **kw); "
        "b.raw_llama_run(llm, b.PROMPTS[0], 8); "
        "print(json.dumps([b.raw_llama_run(llm, p, int(sys.argv[4])) for p in b.PROMPTS]))"
    )
    here = os.path.dirname(os.path.abspath(__file__))
    out = subprocess.run(
        [sys.executable, "-c", code, here, path, str(threads), str(n)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [tuple(r) for r in json.loads(out.strip().splitlines()[-1])]  # type: ignore[misc]


async def cpu(args: argparse.Namespace) -> dict[str, Any]:
    import llama_cpp

    from nexus_server_ext.ai.engines import bundled_gguf, get_engine

    path = str(args.model or bundled_gguf())
    started = time.perf_counter()
    llama_cpp.Llama(model_path=path, n_ctx=4096, verbose=False)  # raw load time, then let it go
    raw_load = time.perf_counter() - started
    engine = get_engine(path, "cpu", backend="llama_cpp")
    started = time.perf_counter()
    engine.load()
    engine_load = time.perf_counter() - started
    threads = engine.threads  # type: ignore[attr-defined]
    n = args.max_tokens
    results: dict[str, list[tuple[float, int, float]]] = {
        "raw_llama_cpp": [],
        "raw_llama_cpp_same_threads": [],
        "nexus_engine": [],
    }
    await engine_run(engine, PROMPTS[0], 8)  # warm-up
    for _ in range(args.repeats):  # alternating, so all see the same machine load
        results["raw_llama_cpp"] += raw_child(path, 0, n)
        results["raw_llama_cpp_same_threads"] += raw_child(path, threads, n)
        for prompt in PROMPTS:
            results["nexus_engine"].append(await engine_run(engine, prompt, n))
    paths = {k: speed(v) for k, v in results.items()}
    paths["raw_llama_cpp"]["load_s"] = round(raw_load, 3)
    paths["nexus_engine"]["load_s"] = round(engine_load, 3)
    if args.with_transformers:
        paths["transformers_backend"] = await transformers_cpu(path, n, args.repeats)
    base, nexus = paths["raw_llama_cpp_same_threads"], paths["nexus_engine"]
    ratio = nexus["tokens_per_s"] / base["tokens_per_s"]
    overhead = nexus["ttft_ms"] - base["ttft_ms"]
    return {
        "benchmark": "engine",
        "device": "cpu",
        "model": os.path.basename(path),
        "max_tokens": n,
        "prompts": len(PROMPTS),
        "repeats": args.repeats,
        "threads": threads,
        "paths": paths,
        "baseline": "raw_llama_cpp_same_threads",
        "tokens_per_s_ratio": round(ratio, 3),
        "first_token_overhead_ms": round(overhead, 1),
        "vs_llama_cpp_defaults": {
            "tokens_per_s_ratio": round(nexus["tokens_per_s"] / paths["raw_llama_cpp"]["tokens_per_s"], 3),
            "first_token_ms_difference": round(nexus["ttft_ms"] - paths["raw_llama_cpp"]["ttft_ms"], 1),
        },
        "goals": {
            "tokens_per_s_ratio>=0.95": ratio >= 0.95,
            "first_token_overhead<=20ms": overhead <= 20,
            "load<1s": engine_load < 1,
        },
    }


async def transformers_cpu(path: str, n: int, repeats: int) -> dict[str, float]:
    from nexus_server_ext.ai.engines import get_engine

    engine = get_engine(path, "cpu", backend="transformers")
    started = time.perf_counter()
    engine.load()
    load = time.perf_counter() - started
    runs = [await engine_run(engine, p, n) for _ in range(repeats) for p in PROMPTS]
    return {**speed(runs), "load_s": round(load, 3)}


# -- CUDA: continuous batching vs plain generate -------------------------------------------------------
def cuda_model(args: argparse.Namespace) -> tuple[Any, Any]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, Qwen2Config

    from nexus_server_ext.ai.engines import resolve_source

    if args.model:
        tokenizer = AutoTokenizer.from_pretrained(args.model)
        model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.bfloat16)
    else:  # Qwen2.5-0.5B's shape, random weights, the bundled model's tokenizer
        directory, gguf = resolve_source("")
        tokenizer = AutoTokenizer.from_pretrained(directory, gguf_file=gguf)
        tiny = args.tiny  # a smoke run of this path on a CPU
        config = Qwen2Config(
            vocab_size=len(tokenizer),
            hidden_size=64 if tiny else 896,
            intermediate_size=128 if tiny else 4864,
            num_hidden_layers=2 if tiny else 24,
            num_attention_heads=4 if tiny else 14,
            num_key_value_heads=2,
            max_position_embeddings=4096,
            eos_token_id=tokenizer.eos_token_id,
        )
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32 if tiny else torch.bfloat16)
    return model.to(args.device).eval(), tokenizer


def plain_generate(model: Any, tokenizer: Any, batch: int, n: int) -> float:
    """Aggregate tokens/s of one padded ``generate`` call over ``batch`` prompts (the baseline)."""
    import torch

    prompts = [PROMPTS[i % len(PROMPTS)] for i in range(batch)]
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    inputs = tokenizer(prompts, return_tensors="pt", padding=True).to(model.device)
    sync = torch.cuda.synchronize if model.device.type == "cuda" else (lambda: None)
    sync()
    started = time.perf_counter()
    with torch.inference_mode():
        out = model.generate(**inputs, max_new_tokens=n, min_new_tokens=n, do_sample=False)
    sync()
    produced = (out.shape[1] - inputs["input_ids"].shape[1]) * batch
    return produced / (time.perf_counter() - started)


async def engine_streams(engine: Any, streams: int, n: int) -> float:
    from nexus_server_ext.ai.types import ChatMessage, GenerationRequest, Usage

    async def one(i: int) -> int:
        request = GenerationRequest(
            messages=[ChatMessage("user", PROMPTS[i % len(PROMPTS)])],
            max_tokens=n,
            repetition_penalty=1.0,
            stop_loops=False,
            user=f"user{i}",
        )
        async for item in engine.stream(request):
            if isinstance(item, Usage):
                return item.tokens_out
        return 0

    started = time.perf_counter()
    tokens = await asyncio.gather(*(one(i) for i in range(streams)))
    return sum(tokens) / (time.perf_counter() - started)


async def cuda(args: argparse.Namespace) -> dict[str, Any]:
    from nexus_server_ext.ai.engines.transformers import TransformersEngine

    model, tokenizer = cuda_model(args)
    n = args.max_tokens
    plain_generate(model, tokenizer, 1, 8)  # warm-up
    baseline = {
        "single_tokens_per_s": round(plain_generate(model, tokenizer, 1, n), 1),
        f"batch{args.streams}_tokens_per_s": round(plain_generate(model, tokenizer, args.streams, n), 1),
    }
    engine = TransformersEngine("bench", args.device, max_queue=4 * args.streams, options={"batching": True})
    engine.tokenizer, engine.model, engine.device = tokenizer, model, args.device
    engine._start_batching()
    engine.state = "loaded"
    await engine_streams(engine, 2, 8)  # warm-up (graphs, cache)
    nexus = {
        "single_tokens_per_s": round(await engine_streams(engine, 1, n), 1),
        f"streams{args.streams}_tokens_per_s": round(await engine_streams(engine, args.streams, n), 1),
    }
    engine.manager.stop(block=True)
    single, many = nexus["single_tokens_per_s"], nexus[f"streams{args.streams}_tokens_per_s"]
    return {
        "benchmark": "engine",
        "device": args.device,
        "model": args.model or ("random tiny Qwen2" if args.tiny else "random Qwen2-0.5B-shaped"),
        "max_tokens": n,
        "plain_generate": baseline,
        "nexus_continuous_batching": nexus,
        "goals": {"single>=650tok/s": single >= 650, f"streams{args.streams}>=5000tok/s": many >= 5000},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--model", default="", help="a .gguf (cpu) or a model folder (cuda)")
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--streams", type=int, default=32)
    parser.add_argument("--with-transformers", action="store_true")
    parser.add_argument("--tiny", action="store_true", help="the batching comparison on a tiny model (smoke)")
    args = parser.parse_args()
    result = asyncio.run(cuda(args) if args.device == "cuda" or args.tiny else cpu(args))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
