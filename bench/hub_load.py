"""Many notebook users on one CPU node: NEXUS's answers through a real JupyterHub, with the gateway
serving the bundled model in-process (one sequence at a time) and on llama-server (parallel slots).

N simulated users each send, back to back for ``--seconds``, the mix a notebook user sends: a chat
question, an inline completion, an explanation of some code (each user starts at a different place
in the mix). Each user talks to their own Jupyter server, spawned by the Hub from
``deploy/jupyterhub`` (SimpleLocalProcessSpawner, DummyAuthenticator, configurable-http-proxy), which
sends every model task to the one gateway service: chat and explain stream over the NEXUS websocket
(``generate`` frames), completion is ``POST /complete``. With ``--direct`` the same mix goes
straight to the gateway's OpenAI API (no Hub, no user servers: the gateway alone, streamed).

Per mode and number of users, one JSON object: p50/p95 first-token and answer latency (seconds, as
the user sees them: a completion's first token is its answer), aggregate completion tokens/s (from
the gateway's usage ledger through the Hub, from the streams' usage with ``--direct``), the number
of 429s and of errors (5xx, or an answer broken off; a refused request waits its Retry-After before
the user's next one). Goals, llama-server: aggregate tokens/s at 4 users >= 1.8x one user's; median
answer at 4 users <= 2x one user's; no 5xx; judged against one user served in-process (today's
experience) and against llama-server's own one user.

    python bench/hub_load.py [--users 1,4,8] [--seconds 30] [--max-tokens 64] [--direct]
           [--modes in-process,llama-server] [--parallel 4] [--threads 0]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
HUB_CONFIG = ROOT / "deploy" / "jupyterhub" / "jupyterhub_config.py"
TOKEN = "nexus-bench-token"
KINDS = ("chat", "complete", "explain")
QUESTIONS = [
    "What is a Python list comprehension?",
    "How do I read a CSV file with pandas?",
    "What is the difference between a tuple and a list?",
    "How do I sort a dictionary by value?",
]
PREFIXES = [
    "def square(x):\n    return ",
    "import math\n\ndef circle_area(r):\n    ",
    "numbers = [3, 1, 2]\nsorted_numbers = ",
    "def greet(name):\n    return f",
]
CODE = [
    "total = sum(values) / len(values)",
    "squares = {n: n * n for n in range(10)}",
    "with open('data.txt') as f:\n    lines = [line.strip() for line in f]",
]


@dataclass
class Sample:
    kind: str
    status: int  # 200, or the HTTP status (or 599 for an answer broken off mid-stream)
    first_s: float = 0.0
    answer_s: float = 0.0
    tokens: int = 0
    retry_after_s: float = 0.0  # a refusal's Retry-After: a polite client waits that long


def refused(kind: str, status: int, headers: Any) -> Sample:
    return Sample(kind, status, retry_after_s=float(headers.get("Retry-After") or 1))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)


def summarise(samples: list[Sample], seconds: float, tokens: int | None = None) -> dict[str, Any]:
    ok = [s for s in samples if s.status == 200]
    total = sum(s.tokens for s in ok) if tokens is None else tokens
    answers = [s.answer_s for s in ok]
    return {
        "requests": len(samples),
        "ok": len(ok),
        "first_token_p50_s": pct([s.first_s for s in ok], 0.5),
        "first_token_p95_s": pct([s.first_s for s in ok], 0.95),
        "answer_p50_s": round(statistics.median(answers), 3) if answers else None,
        "answer_p95_s": pct(answers, 0.95),
        "tokens": total,
        "tokens_per_s": round(total / seconds, 1) if seconds > 0 else 0.0,
        "status_429": sum(s.status == 429 for s in samples),
        "errors_5xx": sum(s.status >= 500 for s in samples),
        # which: 503 is a refusal with Retry-After (overload), 599 an answer broken off or timed out
        "error_statuses": dict(sorted(Counter(str(s.status) for s in samples if s.status >= 500).items())),
        "other_errors": sum(s.status not in (200, 429) and s.status < 500 for s in samples),
        "by_kind": {k: sum(s.kind == k for s in ok) for k in KINDS},
    }


# -- the direct path: the gateway's OpenAI API ----------------------------------------------------
def direct_body(kind: str, i: int, max_tokens: int) -> tuple[str, dict[str, Any]]:
    common = {"stream": True, "stream_options": {"include_usage": True}, "temperature": 0}
    if kind == "complete":
        prompt = PREFIXES[i % len(PREFIXES)]
        return "/completions", {"model": "completion", "prompt": prompt, "max_tokens": 24, **common}
    if kind == "chat":
        content, model = QUESTIONS[i % len(QUESTIONS)], "natural_language"
    else:
        content = f"Explain what this code does:\n```python\n{CODE[i % len(CODE)]}\n```"
        model = "code_analysis"
    messages = [{"role": "user", "content": content}]
    return "/chat/completions", {"model": model, "messages": messages, "max_tokens": max_tokens, **common}


async def direct_request(http: httpx.AsyncClient, kind: str, i: int, max_tokens: int) -> Sample:
    path, body = direct_body(kind, i, max_tokens)
    started = time.perf_counter()
    first, tokens, done = 0.0, 0, False
    async with http.stream("POST", path, json=body) as reply:
        if reply.status_code != 200:
            await reply.aread()
            return refused(kind, reply.status_code, reply.headers)
        async for line in reply.aiter_lines():
            if not line.startswith("data:"):
                continue
            data = line[5:].strip()
            if data == "[DONE]":
                done = True
                break
            chunk = json.loads(data)
            if chunk.get("error"):
                return Sample(kind, 599)
            if not first and any(
                c.get("text") or (c.get("delta") or {}).get("content") for c in chunk["choices"]
            ):
                first = time.perf_counter() - started
            tokens = int((chunk.get("usage") or {}).get("completion_tokens") or tokens)
    if not done:
        return Sample(kind, 599)
    return Sample(kind, 200, first, time.perf_counter() - started, tokens)


@asynccontextmanager
async def direct_target(mode: str, args: argparse.Namespace) -> AsyncIterator[Any]:
    port = free_port()
    command = [sys.executable, "-m", "nexus_server_ext.gateway", "--port", str(port), "--token", TOKEN]
    command += ["--rate-per-minute", "0", "--preload", *llama_flags(mode, args)]
    state = Path(tempfile.mkdtemp(prefix="nexus-gateway-load-"))
    log = state / "gateway.log"
    with log.open("w") as out:
        proc = subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    headers = {"Authorization": f"Bearer {TOKEN}"}
    try:
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=args.request_timeout) as http:
            await wait_ready(http, "/status", proc, log)

            async def send(user: int, kind: str, i: int) -> Sample:
                return await direct_request(http, kind, i, args.max_tokens)

            yield send, None, http, proc.pid
    finally:
        stop(proc)
        shutil.rmtree(state, ignore_errors=True)


def llama_flags(mode: str, args: argparse.Namespace) -> list[str]:
    if mode == "in-process":
        return ["--LlamaServer.enabled=False"]
    return [
        f"--LlamaServer.parallel={args.parallel}",
        f"--LlamaServer.threads={args.threads}",
        f"--LlamaServer.threads_batch={args.threads_batch}",
    ]


async def wait_ready(http: httpx.AsyncClient, path: str, proc: subprocess.Popen[Any], log: Path) -> None:
    """Until the gateway's model is loaded (the bench measures answers, not the first load)."""
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited:\n{log.read_text()[-3000:]}")
        try:
            r = await http.get(path)
            if r.status_code == 200 and any(e["state"] == "loaded" for e in r.json()["engines"]):
                return
        except httpx.HTTPError:
            pass
        await asyncio.sleep(0.3)
    raise SystemExit(f"the gateway's model did not load:\n{log.read_text()[-3000:]}")


def stop(proc: subprocess.Popen[Any]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# -- the hub path: users' own servers, the gateway as a Hub service --------------------------------
WRAPPER = """
c = get_config()  # noqa: F821
load_subconfig({config!r})  # noqa: F821
# One data directory per user (each user server keeps its own SQLite store there).
c.Spawner.environment["NEXUS_DATA_DIR"] = lambda spawner: {state!r} + "/data/" + spawner.user.name
c.Spawner.start_timeout = 180
c.Spawner.http_timeout = 180
"""


async def hub_request(hub: Hub, user: str, kind: str, i: int, max_tokens: int) -> Sample:
    started = time.perf_counter()
    if kind == "complete":
        body = {"prefix": PREFIXES[i % len(PREFIXES)], "max_tokens": 24}
        r = await hub.http[user].post(f"/user/{user}/nexus/api/v1/complete", json=body)
        took = time.perf_counter() - started
        return (
            Sample(kind, 200, took, took) if r.status_code == 200 else refused(kind, r.status_code, r.headers)
        )
    frame: dict[str, Any] = {"type": "generate", "id": secrets.token_hex(6), "max_tokens": max_tokens}
    if kind == "chat":
        frame.update(task="natural_language", prompt=QUESTIONS[i % len(QUESTIONS)])
    else:
        frame.update(task="code_analysis", prompt="Explain what this code does.")
        frame["context"] = {"code": CODE[i % len(CODE)]}
    socket = hub.sockets[user]
    socket.write_message(json.dumps(frame))
    first = 0.0
    while True:
        message = await asyncio.wait_for(socket.read_message(), hub.timeout)
        if message is None:
            raise RuntimeError("the websocket closed")
        reply = json.loads(message)
        if reply.get("id") != frame["id"]:
            continue
        if reply["type"] == "generate.delta":
            first = first or time.perf_counter() - started
        elif reply["type"] == "generate.restart":
            return Sample(kind, 599)
        elif reply["type"] == "generate.done":
            return Sample(kind, 200, first, time.perf_counter() - started, int(reply.get("tokens_out") or 0))
        elif reply["type"] == "error":
            code = reply.get("error")
            return refused(kind, 429 if code in ("rate_limited", "quota_exceeded") else 503, {})


@dataclass
class Hub:
    url: str
    admin: httpx.AsyncClient
    http: dict[str, httpx.AsyncClient]
    sockets: dict[str, Any]
    timeout: float

    async def tokens_out(self) -> int:
        r = await self.admin.get("/services/nexus-gateway/v1/usage")
        r.raise_for_status()
        return sum(int(row["tokens_out"]) for row in r.json()["data"])


@asynccontextmanager
async def hub_target(mode: str, args: argparse.Namespace) -> AsyncIterator[Any]:
    from tornado.httpclient import HTTPRequest
    from tornado.websocket import websocket_connect

    state = Path(tempfile.mkdtemp(prefix="nexus-hub-load-"))
    (state / "hub_config.py").write_text(WRAPPER.format(config=str(HUB_CONFIG), state=str(state)))
    gateway_config = state / "gateway_config.py"
    lines = [f"c.LlamaServer.{flag[len('--LlamaServer.') :]}" for flag in llama_flags(mode, args)]
    gateway_config.write_text("\n".join(line.replace("=", " = ", 1) for line in lines) + "\n")
    admin_token, port = secrets.token_hex(16), free_port()
    env = {
        **os.environ,
        "NEXUS_HUB_AUTHENTICATOR": "dummy",
        "NEXUS_HUB_PORT": str(port),
        "NEXUS_HUB_API_PORT": str(free_port()),
        "NEXUS_PROXY_API_PORT": str(free_port()),
        "NEXUS_GATEWAY_PORT": str(free_port()),
        "NEXUS_HUB_STATE_DIR": str(state),
        "NEXUS_HUB_ADMIN_SERVICE_TOKEN": admin_token,
        "NEXUS_GATEWAY_CONFIG": str(gateway_config),
        "NEXUS_GATEWAY_RATE_PER_MINUTE": "600",
        "NEXUS_GATEWAY_BURST": "60",
        "CONFIGPROXY_AUTH_TOKEN": secrets.token_hex(16),
    }
    for var in ("NEXUS_DATABASE_URL", "NEXUS_REDIS_URL", "NEXUS_GATEWAY_TOKEN_QUOTA"):
        env.pop(var, None)
    proxy_bin = Path(sys.prefix) / "node" / "node_modules" / ".bin"  # where `make` installs the proxy
    env["PATH"] = os.pathsep.join([str(proxy_bin), env.get("PATH", "")])
    if not shutil.which("configurable-http-proxy", path=env["PATH"]):
        raise SystemExit("configurable-http-proxy is missing: run `make proxy-deps` (part of `make test`)")
    log = state / "hub.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "jupyterhub", "-f", str(state / "hub_config.py")],
            cwd=state,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    users = [f"user{n}" for n in range(max(args.users))]
    admin = httpx.AsyncClient(base_url=url, headers={"Authorization": f"token {admin_token}"}, timeout=60)
    clients: dict[str, httpx.AsyncClient] = {}
    sockets: dict[str, Any] = {}
    try:
        await until(lambda: hub_up(admin), "the hub", proc, log)
        r = await admin.post("/hub/api/users", json={"usernames": users})
        assert r.status_code == 201, r.text
        for user in users:
            r = await admin.post(f"/hub/api/users/{user}/tokens", json={"note": "bench"})
            token = r.json()["token"]
            clients[user] = httpx.AsyncClient(
                base_url=url, headers={"Authorization": f"token {token}"}, timeout=args.request_timeout
            )
            assert (await admin.post(f"/hub/api/users/{user}/server")).status_code in (201, 202)
        for user in users:
            await until(lambda u=user: server_ready(admin, u), f"{user}'s server", proc, log)
        await until(lambda: model_loaded(admin), "the gateway's model", proc, log)
        for user in users:
            auth = dict(clients[user].headers)
            request = HTTPRequest(f"ws://127.0.0.1:{port}/user/{user}/nexus/api/v1/ws", headers=auth)
            sockets[user] = await websocket_connect(request)
        hub = Hub(url, admin, clients, sockets, args.request_timeout)

        async def send(user: int, kind: str, i: int) -> Sample:
            return await hub_request(hub, users[user], kind, i, args.max_tokens)

        yield send, hub, admin, proc.pid
    finally:
        for ws in sockets.values():
            ws.close()
        for client in clients.values():
            await client.aclose()
        await admin.aclose()
        proc.send_signal(signal.SIGTERM)  # the Hub stops the user servers, the gateway and the proxy
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        shutil.rmtree(state, ignore_errors=True)


async def hub_up(admin: httpx.AsyncClient) -> bool:
    return (await admin.get("/hub/api/")).status_code == 200


async def server_ready(admin: httpx.AsyncClient, user: str) -> bool:
    r = await admin.get(f"/hub/api/users/{user}")
    return bool(r.json()["servers"].get("", {}).get("ready"))


async def model_loaded(admin: httpx.AsyncClient) -> bool:
    r = await admin.get("/services/nexus-gateway/v1/status")
    return r.status_code == 200 and any(e["state"] == "loaded" for e in r.json()["engines"])


async def until(check: Any, what: str, proc: subprocess.Popen[Any], log: Path, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the hub exited while waiting for {what}:\n{log.read_text()[-4000:]}")
        try:
            if await check():
                return
        except (httpx.HTTPError, KeyError, ValueError):
            pass
        await asyncio.sleep(0.5)
    raise SystemExit(f"timed out waiting for {what}:\n{log.read_text()[-4000:]}")


# -- the load -------------------------------------------------------------------------------------
CPUS = len(os.sched_getaffinity(0))
PARTS = (  # command-line marks of the processes under the Hub (or the gateway), first match wins
    ("llama-server", "llama-server"),
    ("gateway", "nexus_server_ext.gateway"),
    ("user servers", "singleuser"),
    ("kernels", "ipykernel"),
    ("proxy", "configurable-http-proxy"),
)


def cpu_seconds(root: int) -> dict[str, float]:
    """CPU seconds used so far by ``root``'s process tree, by part (what is left is the Hub), and by
    this benchmark's own client: where a machine's cores go under load (Linux ``/proc``)."""
    tick = os.sysconf("SC_CLK_TCK")
    procs: dict[int, tuple[int, float, str]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        procs[int(entry.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / tick, command)
    tree, todo = set(), [root]
    while todo:
        pid = todo.pop()
        tree.add(pid)
        todo += [child for child, (parent, _, _) in procs.items() if parent == pid and child not in tree]
    out: dict[str, float] = {"bench client": sum(os.times()[:2])}
    for pid in tree & procs.keys():
        _, used, command = procs[pid]
        part = next((name for name, mark in PARTS if mark in command), "hub")
        out[part] = out.get(part, 0.0) + used
    return out


async def level(send: Any, users: int, args: argparse.Namespace) -> tuple[list[Sample], float]:
    """``users`` closed loops for ``args.seconds`` (each at most ``args.requests`` requests); the
    seconds from the start to the last answer."""
    started = time.perf_counter()
    deadline = started + args.seconds
    samples: list[Sample] = []

    async def user(n: int) -> None:
        for i in range(args.requests):
            if time.perf_counter() >= deadline:
                return
            kind = KINDS[(n + i) % len(KINDS)]
            try:
                sample = await send(n, kind, n * 7 + i)
            except (httpx.HTTPError, asyncio.TimeoutError, RuntimeError):
                sample = Sample(kind, 599, retry_after_s=1.0)
            samples.append(sample)
            if sample.status != 200:  # back off as a real client would, not hammer
                await asyncio.sleep(
                    min(sample.retry_after_s or 1.0, max(0.0, deadline - time.perf_counter()))
                )

    await asyncio.gather(*(user(n) for n in range(users)))
    return samples, time.perf_counter() - started


async def run_mode(mode: str, args: argparse.Namespace) -> dict[str, Any]:
    target = direct_target if args.direct else hub_target
    out: dict[str, Any] = {}
    async with target(mode, args) as (send, hub, http, root):
        for kind in KINDS:  # warm every path once (prompt caches, the user servers' first calls)
            await send(0, kind, 0)
        status = (await http.get("/services/nexus-gateway/v1/status" if hub else "/status")).json()
        out["serving"] = status.get("serving", {}).get("message")
        for users in args.users:
            before, cpu = await hub.tokens_out() if hub else 0, cpu_seconds(root)
            samples, seconds = await level(send, users, args)
            tokens = (await hub.tokens_out()) - before if hub else None
            out[str(users)] = summarise(samples, seconds, tokens)
            used = {part: t - cpu.get(part, 0.0) for part, t in cpu_seconds(root).items()}
            out[str(users)]["cpu_share"] = {p: round(t / seconds / CPUS, 2) for p, t in sorted(used.items())}
    return out


def goals(result: dict[str, Any], baseline: dict[str, Any] | None) -> dict[str, Any]:
    """llama-server at 4 users against one user: today's (in-process) when it was measured, and its own."""
    four = result.get("4")
    if not four or not four["tokens_per_s"]:
        return {}
    no_5xx = all(v["errors_5xx"] == 0 for k, v in result.items() if k.isdigit())
    out: dict[str, Any] = {"no_5xx": no_5xx}
    for name, one in (
        ("vs_in_process_1_user", (baseline or {}).get("1")),
        ("vs_own_1_user", result.get("1")),
    ):
        if not one or not one["tokens_per_s"] or not one["answer_p50_s"]:
            continue
        speedup = four["tokens_per_s"] / one["tokens_per_s"]
        slowdown = (four["answer_p50_s"] or 0) / one["answer_p50_s"]
        out[name] = {
            "aggregate_4_over_1": round(speedup, 2),
            "median_answer_4_over_1": round(slowdown, 2),
            "met": speedup >= 1.8 and slowdown <= 2.0 and no_5xx,
        }
    return out


async def main(args: argparse.Namespace) -> dict[str, Any]:
    result: dict[str, Any] = {
        "benchmark": "hub_load",
        "path": "direct" if args.direct else "hub",
        "cpus": len(os.sched_getaffinity(0)),
        "seconds_per_level": args.seconds,
        "max_tokens": args.max_tokens,
        "parallel": args.parallel,
    }
    for mode in args.modes:
        result[mode] = await run_mode(mode, args)
    if "llama-server" in result:
        result["llama-server"]["goals"] = goals(result["llama-server"], result.get("in-process"))
    return result


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", default="1,4,8", type=lambda v: [int(n) for n in v.split(",")])
    parser.add_argument("--seconds", type=float, default=30.0, help="per level")
    parser.add_argument("--requests", type=int, default=1000, help="per user and level, at most")
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--modes", default="in-process,llama-server", type=lambda v: v.split(","))
    parser.add_argument("--parallel", type=int, default=4, help="llama-server slots")
    parser.add_argument("--threads", type=int, default=0, help="llama-server threads (0: its default)")
    parser.add_argument(
        "--threads-batch", type=int, default=0, help="llama-server batch threads (0: default)"
    )
    parser.add_argument("--request-timeout", type=float, default=120.0)
    parser.add_argument("--direct", action="store_true", help="the gateway's OpenAI API, no Hub")
    return parser.parse_args(argv)


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(parse_args())), indent=2))
