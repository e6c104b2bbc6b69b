"""NEXUS overhead against the raw engine: TTFT and tokens/s, same prompts, greedy, same max tokens.

Paths measured in one run, on one loaded engine:
  raw       - ``model.generate`` with a streamer, no NEXUS code at all
  engine    - ``LocalEngine.stream`` (queue, thread hand-off, cancellation checks)
  router    - ``ModelRouter.stream`` (chain walk, timeouts, health)
  generate  - ``POST /nexus/api/v1/generate`` on a real Jupyter server (HTTP, auth, pipeline, DB row)
  gateway   - ``POST /v1/chat/completions`` streaming from the NEXUS gateway (HTTP + SSE)

Prints JSON. Goal: NEXUS within 5 % of raw tokens/s and within 50 ms of raw TTFT.

  python bench/pipeline_overhead.py [--max-tokens 32] [--repeats 3]
  python bench/pipeline_overhead.py --device cuda --random-init-params 0.5e9   # GPU: random ~0.5B model
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from typing import Any

PROMPTS = [
    "Write a Python function that reverses a string.",
    "Explain what a Python list comprehension is.",
    "Write a function that returns the n-th Fibonacci number.",
]


def random_engine(params: float, device: str) -> Any:
    """A LocalEngine holding a randomly initialised Llama of about ``params`` parameters (no download)."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from nexus_server_ext.ai.engines import get_engine, resolve_source

    directory, gguf = resolve_source("")
    tokenizer = AutoTokenizer.from_pretrained(directory, gguf_file=gguf)
    hidden, layers = (1024, 24) if params >= 3e8 else (576, 30)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=hidden * 4,
        num_hidden_layers=layers,
        num_attention_heads=16,
        num_key_value_heads=4,
    )
    model = LlamaForCausalLM(config).to(dtype=torch.float16 if device == "cuda" else torch.float32)
    engine = get_engine(f"random:{params:g}", device, backend="transformers")
    engine.model, engine.tokenizer, engine.device = model.to(device).eval(), tokenizer, device
    engine.state, engine.load_seconds = "loaded", 0.0
    return engine


def raw_run(engine: Any, prompt: str, max_tokens: int) -> tuple[float, int, float]:
    """(ttft s, tokens, total s) for plain ``generate`` with a minimal streamer."""
    import torch

    from nexus_server_ext.ai.types import ChatMessage, GenerationRequest

    ids = engine.encode(GenerationRequest(messages=[ChatMessage("user", prompt)])).to(engine.device)
    marks: list[float] = []

    class Streamer:
        def put(self, _value: Any) -> None:
            marks.append(time.perf_counter())

        def end(self) -> None:
            pass

    started = time.perf_counter()
    with torch.inference_mode():
        out = engine.model.generate(
            ids,
            attention_mask=torch.ones_like(ids),
            max_new_tokens=max_tokens,
            min_new_tokens=max_tokens,
            do_sample=False,
            streamer=Streamer(),
            pad_token_id=engine.tokenizer.eos_token_id,
            temperature=None,
            top_p=None,
            top_k=None,
        )
    total = time.perf_counter() - started
    return marks[1] - started, int(out.shape[1] - ids.shape[1]), total


async def timed(events: Any, is_token: Any, started: float | None = None) -> tuple[float, int, float]:
    started = started or time.perf_counter()
    ttft, tokens = None, 0
    async for item in events:
        n = is_token(item)
        if n:
            ttft = ttft if ttft is not None else time.perf_counter() - started
            tokens += n
    return ttft or 0.0, tokens, time.perf_counter() - started


def summary(runs: list[tuple[float, int, float]]) -> dict[str, float]:
    return {
        "ttft_ms": round(statistics.median(r[0] for r in runs) * 1000, 1),
        "tokens_per_s": round(statistics.median((r[1] - 1) / max(r[2] - r[0], 1e-9) for r in runs), 2),
        "tokens": statistics.median(r[1] for r in runs),
    }


async def main(args: argparse.Namespace) -> dict[str, Any]:
    from nexus_server_ext.ai.engines import get_engine
    from nexus_server_ext.ai.router import ModelRouter
    from nexus_server_ext.ai.routing import parse_routing
    from nexus_server_ext.ai.types import ChatMessage, Delta, GenerationRequest

    if args.random_init_params:
        engine = random_engine(args.random_init_params, args.device)
    else:
        engine = get_engine("", args.device, backend="transformers")
        engine.load()
    n = args.max_tokens
    raw = {
        "providers": {"local": {"kind": "local", "device": args.device}},
        "tasks": {
            "natural_language": {
                "chain": [{"provider": "local", "model": "m"}],
                "limits": {"max_tokens": n, "timeout_s": 600},
            }
        },
    }
    from pathlib import Path

    router = ModelRouter(parse_routing(raw, Path("bench.yaml")))
    router.providers["local"].engine = engine  # type: ignore[attr-defined]
    results: dict[str, list[tuple[float, int, float]]] = {k: [] for k in ("raw", "engine", "router")}
    raw_run(engine, PROMPTS[0], 4)  # warm-up
    for _ in range(args.repeats):
        for prompt in PROMPTS:
            msgs = [ChatMessage("user", prompt)]
            results["raw"].append(raw_run(engine, prompt, n))
            req = GenerationRequest(messages=msgs, max_tokens=n)
            results["engine"].append(await timed(engine.stream(req), lambda i: isinstance(i, Delta)))
            results["router"].append(
                await timed(
                    router.stream("natural_language", msgs, max_tokens=n), lambda e: isinstance(e, Delta)
                )
            )
    if not args.random_init_params:
        results.update(await http_paths(engine, n, args.repeats))
    out: dict[str, Any] = {
        "device": engine.device,
        "max_tokens": n,
        "prompts": len(PROMPTS),
        "repeats": args.repeats,
        "paths": {k: summary(v) for k, v in results.items() if v},
    }
    base = out["paths"]["raw"]
    for s in out["paths"].values():
        s["tokens_per_s_vs_raw_pct"] = round(100 * (s["tokens_per_s"] / base["tokens_per_s"] - 1), 1)
        s["ttft_vs_raw_ms"] = round(s["ttft_ms"] - base["ttft_ms"], 1)
    return out


async def http_paths(engine: Any, n: int, repeats: int) -> dict[str, list[tuple[float, int, float]]]:
    """The gateway over HTTP (SSE) in this process; /generate on a real Jupyter server in a thread."""
    import httpx
    from tornado.httpserver import HTTPServer
    from tornado.testing import bind_unused_port

    from nexus_server_ext.ai.router import ModelRouter
    from nexus_server_ext.ai.routing import load_routing
    from nexus_server_ext.gateway import make_app

    router = ModelRouter(load_routing())
    sock, port = bind_unused_port()
    server = HTTPServer(make_app(router, "bench"))
    server.add_sockets([sock])
    results: dict[str, list[tuple[float, int, float]]] = {"gateway": [], "generate": []}

    async def sse(response: Any) -> Any:
        async for line in response.aiter_lines():
            if line.startswith("data: ") and line != "data: [DONE]":
                yield json.loads(line[6:])

    def token_count(chunk: Any) -> int:
        return int(any(c["delta"].get("content") for c in chunk.get("choices", [])))

    async with httpx.AsyncClient(timeout=600) as client:
        for _ in range(repeats):
            for prompt in PROMPTS:
                body = {
                    "model": "nexus-local",
                    "messages": [{"role": "user", "content": prompt}],
                    "max_tokens": n,
                    "stream": True,
                }
                sent = time.perf_counter()  # tornado sends headers with the first token: time from here
                async with client.stream(
                    "POST",
                    f"http://127.0.0.1:{port}/v1/chat/completions",
                    json=body,
                    headers={"Authorization": "Bearer bench"},
                ) as r:
                    results["gateway"].append(await timed(sse(r), token_count, sent))
        results["generate"] = await jupyter_generate(client, n, repeats)
    server.stop()
    return results


async def jupyter_generate(client: Any, n: int, repeats: int) -> list[tuple[float, int, float]]:
    """/generate is not streamed: TTFT as measured by the server's pipeline, tokens/s over the whole
    HTTP call (so HTTP, auth, rate limit, post-processing and the interaction row all count against it)."""
    import os
    import subprocess
    import sys
    import tempfile

    from tornado.testing import bind_unused_port

    sock, port = bind_unused_port()
    sock.close()
    data = tempfile.mkdtemp()
    token = "benchtoken"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyter_server",
            "--allow-root",
            "--no-browser",
            f"--port={port}",
            f"--IdentityProvider.token={token}",
            f"--NexusApp.data_dir={data}",
            "--NexusApp.preload_local_model=True",
            "--RateLimiter.per_minute=0",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ},
    )
    runs = []
    try:
        url = f"http://127.0.0.1:{port}/nexus/api/v1/generate"
        headers = {"Authorization": f"token {token}"}
        for _ in range(600):
            try:
                r = await client.post(
                    url, json={"prompt": "hi", "task": "natural_language", "max_tokens": 1}, headers=headers
                )
                if r.status_code == 200:
                    break
            except Exception:
                pass
            await asyncio.sleep(1)
        for _ in range(repeats):
            for prompt in PROMPTS:
                started = time.perf_counter()
                r = await client.post(
                    url, json={"prompt": prompt, "task": "natural_language", "max_tokens": n}, headers=headers
                )
                total = time.perf_counter() - started
                reply = r.json()
                ttft = (reply.get("ttft_ms") or 0) / 1000
                runs.append((ttft, int(reply["tokens_out"]), total))
    finally:
        proc.terminate()
        proc.wait(30)
    return runs


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--random-init-params", type=float, default=0.0)
    print(json.dumps(asyncio.run(main(parser.parse_args())), indent=2))
