"""What the NEXUS pipeline costs on top of the model: the local engine called directly against the
same engine behind each way a user reaches it, same messages, greedy, same token limit, one run.

Paths (the server is a real ``jupyter server`` with NEXUS on its embedded defaults, the bundled
GGUF on llama.cpp, rate limits off; it and this process run one at a time, never together):
  direct     - the NEXUS llama.cpp engine in this process (``engine.stream``): the baseline
  generate   - ``POST /nexus/api/v1/generate`` (HTTP, auth, body parsing, pipeline, interaction row);
               not streamed, so its first token is the server's own measurement and tokens/s is
               taken over the whole HTTP call after it
  ws_generate - the websocket ``generate`` frame (what the ``%nexus`` magics use), first
               ``generate.delta`` as the client sees it
  ws_chat    - the websocket ``chat`` frame (intent, context, conversation storage, pipeline),
               first ``chat.delta`` as the client sees it; its baseline is the direct engine on the
               messages a chat builds (the intent's system prompt and the question: a fresh user
               has no memory, history or notebook context)
Goals: every path within 5 % of the direct tokens/s and within 50 ms of its first token.

  python bench/pipeline_overhead.py [--max-tokens 48] [--repeats 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from server_start import TOKEN, exchange, free_port, get, open_socket, server_command

# Explanations, not code: code answers may be validated and repaired, which is not overhead.
PROMPTS = [
    "Explain what a Python list comprehension is.",
    "What does the zip function do in Python?",
    "Explain the difference between a list and a tuple in Python.",
]

Run = tuple[float, int, float]  # (first token s, tokens, total s)


def speed(runs: list[Run]) -> dict[str, float]:
    return {
        "ttft_ms": round(statistics.median(r[0] for r in runs) * 1000, 1),
        "tokens_per_s": round(statistics.median((r[1] - 1) / max(r[2] - r[0], 1e-9) for r in runs), 2),
        "tokens": statistics.median(r[1] for r in runs),
    }


async def direct(engine: Any, messages: list[Any], n: int) -> Run:
    from nexus_server_ext.ai.types import Delta, GenerationRequest, Usage

    started = time.perf_counter()
    first, tokens = 0.0, 0
    async for item in engine.stream(GenerationRequest(messages=messages, max_tokens=n)):
        if isinstance(item, Delta):
            first = first or time.perf_counter() - started
        elif isinstance(item, Usage):
            tokens = item.tokens_out
    return first, tokens, time.perf_counter() - started


async def http_generate(client: Any, base: str, prompt: str, n: int) -> Run:
    started = time.perf_counter()
    reply = await client.post(
        f"{base}/generate",
        json={"prompt": prompt, "task": "natural_language", "max_tokens": n},
        headers={"Authorization": f"token {TOKEN}"},
    )
    total = time.perf_counter() - started
    body = reply.json()
    if reply.status_code != 200:
        raise RuntimeError(f"/generate answered {reply.status_code}: {body}")
    return (body.get("ttft_ms") or 0) / 1000, int(body["tokens_out"]), total


async def websocket(socket: Any, frame: dict[str, Any], delta: str, done: str) -> tuple[Run, dict[str, Any]]:
    """One frame's answer: (client-side first delta, tokens, total) and the done frame (with the
    chat's intent)."""
    first, seen = 0.0, {}
    async for elapsed, reply in exchange(socket, frame, done):
        if reply["type"] == "chat.started":
            seen["intent"] = reply["intent"]
        elif reply["type"] == delta:
            first = first or elapsed
        elif reply["type"] == done:
            return (first, int(reply["tokens_out"]), elapsed), {**reply, **seen}
    raise RuntimeError(f"no {done} frame")


def start_server(port: int, root: Path, n: int) -> subprocess.Popen[bytes]:
    command = [
        *server_command(port, root),
        f"--NexusApp.data_dir={root / '.nexus'}",
        "--NexusApp.preload_local_model=start",
        f"--NexusApp.chat_max_tokens={n}",
        "--RateLimiter.per_minute=0",
    ]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_for_server(port: int) -> None:
    for _ in range(600):
        try:
            if get(f"http://127.0.0.1:{port}/api/status", timeout=1.0)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise RuntimeError("the server did not start")


async def main(args: argparse.Namespace) -> dict[str, Any]:
    import httpx

    from nexus_server_ext.ai.engines import bundled_gguf, get_engine
    from nexus_server_ext.ai.pipeline import build_messages
    from nexus_server_ext.ai.prompts import system_prompt
    from nexus_server_ext.ai.types import ChatMessage

    n = args.max_tokens
    engine = get_engine(str(bundled_gguf()), "cpu", backend="llama_cpp")
    engine.load()
    await direct(engine, [ChatMessage("user", "hi")], 4)  # warm-up

    root = Path(tempfile.mkdtemp())
    port = free_port()
    server = start_server(port, root, n)
    runs: dict[str, list[Run]] = {
        k: [] for k in ("direct", "generate", "ws_generate", "direct_chat", "ws_chat")
    }
    try:
        wait_for_server(port)  # the first /generate below waits for the model's load
        base = f"http://127.0.0.1:{port}/nexus/api/v1"
        socket = await open_socket(port)
        async with httpx.AsyncClient(timeout=600) as client:
            await http_generate(client, base, "hi", 4)  # warm-up: the server's first call
            await websocket(socket, {"type": "chat", "text": "hi"}, "chat.delta", "chat.done")
            for _ in range(args.repeats):  # alternating, so every path sees the same machine
                for prompt in PROMPTS:
                    messages = build_messages("natural_language", prompt, {}, "python")
                    runs["direct"].append(await direct(engine, messages, n))
                    runs["generate"].append(await http_generate(client, base, prompt, n))
                    frame = {
                        "type": "generate",
                        "task": "natural_language",
                        "prompt": prompt,
                        "max_tokens": n,
                    }
                    run, _ = await websocket(socket, frame, "generate.delta", "generate.done")
                    runs["ws_generate"].append(run)
                    chat = {"type": "chat", "text": prompt}  # a new conversation each time: no history
                    run, done = await websocket(socket, chat, "chat.delta", "chat.done")
                    runs["ws_chat"].append(run)
                    chat_messages = [
                        ChatMessage("system", system_prompt(done["intent"])),
                        ChatMessage("user", prompt),
                    ]
                    runs["direct_chat"].append(await direct(engine, chat_messages, n))
        socket.close()
    finally:
        server.terminate()
        server.wait(30)
    paths = {k: speed(v) for k, v in runs.items()}
    goals: dict[str, bool] = {}
    for path, baseline in (("generate", "direct"), ("ws_generate", "direct"), ("ws_chat", "direct_chat")):
        here, base = paths[path], paths[baseline]
        here["baseline"] = baseline  # type: ignore[assignment]
        here["tokens_per_s_vs_baseline_pct"] = round(
            100 * (here["tokens_per_s"] / base["tokens_per_s"] - 1), 1
        )
        here["ttft_vs_baseline_ms"] = round(here["ttft_ms"] - base["ttft_ms"], 1)
        goals[f"{path}: tokens/s within 5%"] = here["tokens_per_s_vs_baseline_pct"] >= -5
        goals[f"{path}: first token within 50 ms"] = here["ttft_vs_baseline_ms"] <= 50
    return {
        "benchmark": "pipeline_overhead",
        "model": Path(str(bundled_gguf())).name,
        "max_tokens": n,
        "prompts": len(PROMPTS),
        "repeats": args.repeats,
        "paths": paths,
        "goals": goals,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--max-tokens", type=int, default=48)
    parser.add_argument("--repeats", type=int, default=2)
    print(json.dumps(asyncio.run(main(parser.parse_args())), indent=2))
