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
llama.cpp reuses the cached prefix of the previous prompt, so before every measured call its
engine answers the same one-token question: every path starts from the same cache state.
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


def tokens_per_s(run: Run) -> float:
    """Decode speed: the tokens after the first over the time after the first."""
    return (run[1] - 1) / max(run[2] - run[0], 1e-9)


def speed(runs: list[Run]) -> dict[str, Any]:
    """Medians, and the middle half of the per-call tokens/s (how much calls on one path vary)."""
    rates = sorted(tokens_per_s(r) for r in runs)
    quartiles = statistics.quantiles(rates, n=4) if len(rates) > 1 else [rates[0]] * 3
    return {
        "ttft_ms": round(statistics.median(r[0] for r in runs) * 1000, 1),
        "tokens_per_s": round(statistics.median(rates), 2),
        "tokens_per_s_middle_half": [round(quartiles[0], 2), round(quartiles[2], 2)],
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
        f"--ConsciousnessCore.max_tokens={n}",
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
            # llama.cpp reuses the cached prefix of the previous prompt: before every measured call
            # both engines answer the same one-token question, so each pair starts from one cache state.
            reset = {"type": "generate", "task": "natural_language", "prompt": "ok", "max_tokens": 1}
            reset_messages = build_messages("natural_language", "ok", {}, "python")

            async def on_server(run: Any) -> Any:
                await websocket(socket, reset, "generate.delta", "generate.done")
                return await run

            async def here(messages: list[Any]) -> Run:
                await direct(engine, reset_messages, 1)
                return await direct(engine, messages, n)

            for _ in range(args.repeats):  # alternating, so every path sees the same machine
                for prompt in PROMPTS:
                    messages = build_messages("natural_language", prompt, {}, "python")
                    runs["direct"].append(await here(messages))
                    runs["generate"].append(await on_server(http_generate(client, base, prompt, n)))
                    frame = {
                        "type": "generate",
                        "task": "natural_language",
                        "prompt": prompt,
                        "max_tokens": n,
                    }
                    run, _ = await on_server(websocket(socket, frame, "generate.delta", "generate.done"))
                    runs["ws_generate"].append(run)
                    chat = {"type": "chat", "text": prompt}  # a new conversation each time: no history
                    run, done = await on_server(websocket(socket, chat, "chat.delta", "chat.done"))
                    runs["ws_chat"].append(run)
                    chat_messages = [
                        ChatMessage("system", system_prompt(done["intent"])),
                        ChatMessage("user", prompt),
                    ]
                    runs["direct_chat"].append(await here(chat_messages))
        socket.close()
    finally:
        server.terminate()
        server.wait(30)
    paths = {k: speed(v) for k, v in runs.items()}
    goals: dict[str, bool] = {}
    for path, baseline in (("generate", "direct"), ("ws_generate", "direct"), ("ws_chat", "direct_chat")):
        # Paired: each call against its baseline call of the same round and prompt (made moments
        # apart), so the machine's drift between rounds cancels out; the median of the pairs.
        pairs = list(zip(runs[path], runs[baseline], strict=True))
        ratio = statistics.median(tokens_per_s(a) / tokens_per_s(b) for a, b in pairs)
        extra_ms = statistics.median((a[0] - b[0]) * 1000 for a, b in pairs)
        paths[path]["baseline"] = baseline
        paths[path]["tokens_per_s_vs_baseline_pct"] = round(100 * (ratio - 1), 1)
        paths[path]["ttft_vs_baseline_ms"] = round(extra_ms, 1)
        goals[f"{path}: tokens/s within 5%"] = ratio >= 0.95
        goals[f"{path}: first token within 50 ms"] = extra_ms <= 50
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
