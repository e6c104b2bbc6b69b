"""What NEXUS costs every Jupyter server start: seconds until it answers, and memory while idle.

Runs ``jupyter server`` (same venv, same other extensions) with the NEXUS extension enabled and
disabled, alternating, so machine load affects both alike. Each run gets fresh runtime and root
directories, a fixed token and a free port; the Jupyter data directory (where NEXUS keeps its
database) is shared by the runs of one mode, and an untimed warm-up run per mode first creates it,
so the timed runs see what a user's second and later starts see (migrations already applied).

Measured per run: seconds from spawn until ``/api/status`` answers 200 (and the CPU seconds the
server used until then, which a busy machine distorts less), and the resident memory of the server
process (and any children) after it has been idle for ``--idle`` seconds. Goal: NEXUS
adds at most 0.3 s and 25 MB. With ``--model-load`` the first NEXUS run also measures how long after the
first client's ``/nexus/api/v1/status`` the local model reports loaded (no generation request), then
waits for what that first client readies besides (the intent embedder, the deferred services) and
reads the memory again: "ready", goal at most 250 MB over plain Jupyter idle, with the runtimes mapped.

    python bench/server_start.py [--rounds 5] [--idle 2] [--model-load]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

TOKEN = "nexus-bench-token"
GOAL_START_S = 0.3
GOAL_RSS_MB = 25.0
GOAL_READY_RSS_MB = 250.0
# Shared objects worth naming in the result: which runtimes the ready server has mapped.
RUNTIMES = ("libllama", "onnxruntime", "libtorch", "ctranslate2", "chromadb")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def get(url: str, timeout: float = 2.0) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers={"Authorization": f"token {TOKEN}"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as reply:
            return reply.status, reply.read()
    except urllib.error.HTTPError as exc:
        return exc.code, b""
    except OSError:
        return 0, b""


async def open_socket(port: int) -> Any:
    """The NEXUS websocket of the server on ``port``, as the JupyterLab page opens it."""
    from tornado.httpclient import HTTPRequest
    from tornado.websocket import websocket_connect

    url = f"ws://127.0.0.1:{port}/nexus/api/v1/ws"
    return await websocket_connect(HTTPRequest(url, headers={"Authorization": f"token {TOKEN}"}))


async def exchange(
    socket: Any, frame: dict[str, Any], last: str
) -> AsyncIterator[tuple[float, dict[str, Any]]]:
    """Send ``frame`` with a new id; yield (seconds since sending, reply) for its replies up to the
    ``last`` type, inclusive. An error frame or a closed socket raises."""
    frame_id = uuid.uuid4().hex[:12]
    sent = time.perf_counter()
    socket.write_message(json.dumps({**frame, "id": frame_id}))
    while True:
        message = await asyncio.wait_for(socket.read_message(), 300)
        if message is None:
            raise RuntimeError("the websocket closed")
        reply = json.loads(message)
        if reply.get("id") != frame_id:
            continue
        if reply["type"] == "error":
            raise RuntimeError(f"{frame['type']} frame refused: {reply.get('message')}")
        yield time.perf_counter() - sent, reply
        if reply["type"] == last:
            return


def server_command(port: int, root: Path) -> list[str]:
    """``jupyter server`` from this venv on 127.0.0.1:``port``, serving ``root``, token ``TOKEN``."""
    return [
        sys.executable,
        "-m",
        "jupyter_server",
        "--allow-root",
        "--no-browser",
        f"--port={port}",
        "--ServerApp.port_retries=0",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.root_dir={root}",
        f"--IdentityProvider.token={TOKEN}",
    ]


def rss_kb(pid: int) -> int:
    """VmRSS of ``pid`` plus all its descendants, in kB."""
    total = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            total += int(line.split()[1])
    for task in Path(f"/proc/{pid}/task").iterdir():
        children = (task / "children").read_text().split()
        total += sum(rss_kb(int(child)) for child in children)
    return total


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of ``pid`` so far (less sensitive to a busy machine than wall time)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def local_model_state(base: str) -> str:
    code, body = get(f"{base}/nexus/api/v1/status")
    if code != 200:
        return f"HTTP {code}"
    for component in json.loads(body)["components"]:
        if component["name"] == "local_model":
            return str(component["detail"])
    return "absent"


def one_run(nexus: bool, data_dir: Path, idle_s: float, model_load: bool) -> dict[str, Any]:
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        root, runtime, config = Path(tmp, "root"), Path(tmp, "runtime"), Path(tmp, "config")
        for path in (root, runtime, config):
            path.mkdir()
        # The user config dir outranks the venv's jupyter_server_config.d, so this decides alone.
        extensions = {"ServerApp": {"jpserver_extensions": {"nexus_server_ext": nexus}}}
        (config / "jupyter_server_config.json").write_text(json.dumps(extensions))
        env = {
            **os.environ,
            "JUPYTER_CONFIG_DIR": str(config),
            "JUPYTER_RUNTIME_DIR": str(runtime),
            "JUPYTER_DATA_DIR": str(data_dir),
        }
        for var in ("NEXUS_DATA_DIR", "NEXUS_DATABASE_URL", "NEXUS_PRELOAD_MODEL"):
            env.pop(var, None)
        command = server_command(port, root)
        base = f"http://127.0.0.1:{port}"
        started = time.perf_counter()
        proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            while get(f"{base}/api/status", timeout=1.0)[0] != 200:
                if proc.poll() is not None:
                    raise RuntimeError(proc.stderr.read().decode() if proc.stderr else "server exited")
                if time.perf_counter() - started > 120:
                    raise RuntimeError("server did not answer within 120 s")
                time.sleep(0.01)
            ready_s = time.perf_counter() - started
            ready_cpu_s = cpu_s(proc.pid)
            time.sleep(idle_s)
            result: dict[str, Any] = {
                "start_s": ready_s,
                "cpu_s": ready_cpu_s,
                "rss_mb": rss_kb(proc.pid) / 1024,
            }
            if nexus and model_load:
                asked = time.perf_counter()
                state = local_model_state(base)  # the first client: starts the background load
                while not state.startswith(("loaded", "failed")) and time.perf_counter() - asked < 300:
                    time.sleep(0.1)
                    state = local_model_state(base)
                result["model_loaded_after_first_client_s"] = time.perf_counter() - asked
                result["model_state"] = state
                result["rss_loaded_mb"] = rss_kb(proc.pid) / 1024
                # The first client also readies the chat path: wait for the intent embedder's runtime.
                maps = Path(f"/proc/{proc.pid}/maps")
                while time.perf_counter() - asked < 300 and not any(
                    lib in maps.read_text() for lib in ("onnxruntime", "libtorch")
                ):
                    time.sleep(0.2)
                time.sleep(max(idle_s, 2.0))
                result["rss_ready_mb"] = rss_kb(proc.pid) / 1024
                result["runtimes_mapped"] = [lib for lib in RUNTIMES if lib in maps.read_text()]
            return result
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def median(runs: list[dict[str, Any]], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--idle", type=float, default=2.0, help="seconds idle before reading memory")
    parser.add_argument("--model-load", action="store_true", help="also time the background model load")
    args = parser.parse_args()
    runs: dict[bool, list[dict[str, Any]]] = {False: [], True: []}
    with tempfile.TemporaryDirectory() as data:
        dirs = {False: Path(data, "without"), True: Path(data, "with")}
        for nexus in (False, True):  # warm-up: creates the database, fills the file cache
            one_run(nexus, dirs[nexus], 0.0, False)
        for i in range(args.rounds):
            order = (False, True) if i % 2 == 0 else (True, False)
            for nexus in order:
                runs[nexus].append(one_run(nexus, dirs[nexus], args.idle, args.model_load and i == 0))
    start_delta = median(runs[True], "start_s") - median(runs[False], "start_s")
    rss_delta = median(runs[True], "rss_mb") - median(runs[False], "rss_mb")
    result: dict[str, Any] = {
        "benchmark": "jupyter_server_start_with_and_without_nexus",
        "rounds": args.rounds,
        "load_average_1min": round(os.getloadavg()[0], 2),
        "without_nexus": {
            "start_s": round(median(runs[False], "start_s"), 3),
            "start_cpu_s": round(median(runs[False], "cpu_s"), 3),
            "idle_rss_mb": round(median(runs[False], "rss_mb"), 1),
        },
        "with_nexus": {
            "start_s": round(median(runs[True], "start_s"), 3),
            "start_cpu_s": round(median(runs[True], "cpu_s"), 3),
            "idle_rss_mb": round(median(runs[True], "rss_mb"), 1),
        },
        "start_delta_s": round(start_delta, 3),
        "start_cpu_delta_s": round(median(runs[True], "cpu_s") - median(runs[False], "cpu_s"), 3),
        "idle_rss_delta_mb": round(rss_delta, 1),
        "goal": {"start_delta_s": GOAL_START_S, "idle_rss_delta_mb": GOAL_RSS_MB},
        "goal_met": start_delta <= GOAL_START_S and rss_delta <= GOAL_RSS_MB,
        "runs_s": {
            "without_nexus": [round(r["start_s"], 3) for r in runs[False]],
            "with_nexus": [round(r["start_s"], 3) for r in runs[True]],
        },
    }
    loaded = [r for r in runs[True] if "model_state" in r]
    if loaded:
        ready_delta = loaded[0]["rss_ready_mb"] - median(runs[False], "rss_mb")
        result["model_load"] = {
            "loaded_after_first_client_s": round(loaded[0]["model_loaded_after_first_client_s"], 2),
            "state": loaded[0]["model_state"],
            "rss_with_model_mb": round(loaded[0]["rss_loaded_mb"], 1),
            "rss_ready_mb": round(loaded[0]["rss_ready_mb"], 1),
            "ready_rss_delta_mb": round(ready_delta, 1),
            "runtimes_mapped": loaded[0]["runtimes_mapped"],
            "goal_ready_rss_delta_mb": GOAL_READY_RSS_MB,
            "goal_met": ready_delta <= GOAL_READY_RSS_MB,
        }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
