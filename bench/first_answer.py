"""What a new user waits for: the first chat answer on a fresh server, and inline completion latency.

One run, against its baseline in the same process:
- a fresh ``jupyter server`` with NEXUS (new data directory, as on the first ``make lab``) is started;
  the bench then behaves like the JupyterLab page: it asks ``/nexus/api/v1/status`` (which starts the
  background model load and readies the chat path), waits ``--pause`` seconds (JupyterLab renders,
  the user opens the chat and types; 0 asks at once), opens the NEXUS websocket and sends the question.
  Measured from the question: the first streamed text, the first line of code on screen, and the
  finished answer; and from the server's spawn, the whole wait.
- inline completion: ``--completions`` ``POST /nexus/api/v1/complete`` calls of 16 tokens on varied
  prefixes, p50 / p90 latency.
- baseline: raw llama.cpp on the same GGUF in this process, same question and completion prompts.
Goals: first answer (code on screen) <= 5 s on 2 cores; completion p50 <= 300 ms.

  python bench/first_answer.py [--completions 20] [--pause 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from server_start import TOKEN, exchange, free_port, get, open_socket, server_command

QUESTION = "Write a Python function that reverses a string."
PREFIXES = [
    "def square(x):\n    return ",
    "import math\n\ndef circle_area(r):\n    ",
    "def is_even(n):\n    ",
    "numbers = [3, 1, 2]\nsorted_numbers = ",
    "def greet(name):\n    return f",
    "class Point:\n    def __init__(self, x, y):\n        ",
    "for i in range(10):\n    ",
    "def fahrenheit(celsius):\n    ",
]


async def chat_timings(port: int) -> dict[str, float]:
    socket = await open_socket(port)
    text, first, code, done = "", 0.0, 0.0, 0.0
    async for elapsed, frame in exchange(socket, {"type": "chat", "text": QUESTION}, "chat.done"):
        if frame["type"] == "chat.delta":
            text += frame["text"]
            first = first or elapsed
            if not code and "def " in text and "\n" in text.split("def ", 1)[1]:
                code = elapsed  # a whole first line of code is on screen
        elif frame["type"] == "chat.done":
            done = elapsed
    socket.close()
    return {
        "first_text_s": round(first, 3),
        "code_on_screen_s": round(code or done, 3),
        "answer_done_s": round(done, 3),
        "answer_has_code": "def " in text,
    }


def completion_latencies(port: int, count: int) -> list[float]:
    import urllib.request

    out = []
    for i in range(count):
        body = json.dumps({"prefix": PREFIXES[i % len(PREFIXES)], "max_tokens": 16}).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/nexus/api/v1/complete",
            data=body,
            method="POST",
            headers={"Authorization": f"token {TOKEN}", "Content-Type": "application/json"},
        )
        started = time.perf_counter()
        with urllib.request.urlopen(request, timeout=60) as reply:
            json.loads(reply.read())
        out.append(time.perf_counter() - started)
    return out


def baseline(count: int) -> dict[str, float]:
    import llama_cpp

    from nexus_server_ext.ai.engines import bundled_gguf

    started = time.perf_counter()
    llm = llama_cpp.Llama(model_path=str(bundled_gguf()), n_ctx=4096, verbose=False)
    loaded = time.perf_counter() - started
    asked = time.perf_counter()
    first = 0.0
    for chunk in llm.create_chat_completion(
        [{"role": "user", "content": QUESTION}],
        max_tokens=512,
        temperature=0.0,
        repeat_penalty=1.1,
        stream=True,
    ):
        if chunk["choices"][0]["delta"].get("content"):
            first = first or time.perf_counter() - asked
    done = time.perf_counter() - asked
    latencies = []
    for i in range(count):
        started = time.perf_counter()
        llm.create_completion(PREFIXES[i % len(PREFIXES)], max_tokens=16, temperature=0.0)
        latencies.append(time.perf_counter() - started)
    return {
        "load_s": round(loaded, 3),
        "chat_first_text_s": round(first, 3),
        "chat_done_s": round(done, 3),
        "completion_p50_ms": round(statistics.median(latencies) * 1000, 1),
    }


def main() -> None:
    import os
    import subprocess
    import tempfile

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--completions", type=int, default=20)
    parser.add_argument(
        "--pause",
        type=float,
        default=5.0,
        help="seconds between the page's first request and the question (0: ask at once)",
    )
    args = parser.parse_args()
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        root, data = Path(tmp, "root"), Path(tmp, "data")
        root.mkdir()
        env = {**os.environ, "JUPYTER_DATA_DIR": str(data), "JUPYTER_RUNTIME_DIR": str(Path(tmp, "rt"))}
        for var in ("NEXUS_DATA_DIR", "NEXUS_DATABASE_URL", "NEXUS_PRELOAD_MODEL"):
            env.pop(var, None)
        command = server_command(port, root)
        spawned = time.perf_counter()
        proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            base = f"http://127.0.0.1:{port}"
            while get(f"{base}/api/status", timeout=1.0)[0] != 200:
                if proc.poll() is not None or time.perf_counter() - spawned > 120:
                    raise RuntimeError("the server did not start")
                time.sleep(0.02)
            ready = time.perf_counter() - spawned
            get(f"{base}/nexus/api/v1/status")  # the JupyterLab page's first request
            time.sleep(args.pause)  # the page renders, the user opens the chat and types
            chat = asyncio.run(chat_timings(port))
            since_spawn = time.perf_counter() - spawned
            latencies = completion_latencies(port, args.completions)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    base_line = baseline(args.completions)
    p50 = statistics.median(latencies) * 1000
    result = {
        "benchmark": "first_answer",
        "cores": os.cpu_count(),
        "server_ready_s": round(ready, 3),
        "question_asked_after_page_open_s": args.pause,
        "first_chat": chat,
        "spawn_to_answer_done_s": round(since_spawn, 3),
        "completion_16_tokens": {
            "p50_ms": round(p50, 1),
            "p90_ms": round(statistics.quantiles(latencies, n=10)[-1] * 1000, 1),
            "n": len(latencies),
        },
        "baseline_raw_llama_cpp": base_line,
        "goals": {
            "code_on_screen<=5s": chat["code_on_screen_s"] <= 5,
            "completion_p50<=300ms": p50 <= 300,
        },
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
