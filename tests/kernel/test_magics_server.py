"""The magics in a kernel started by a real Jupyter server running NEXUS: they use that server's API.

The kernel finds its server through the ``jpserver-<pid>.json`` file of its parent
process and authenticates with the server's own token; the answers stream over the
server's websocket and are recorded by the server (they carry its interaction ids);
``learn`` / ``search`` use the user's memory on the server and ``feedback`` reaches
its learning system.
"""

from __future__ import annotations

import ast
import itertools
import json
import os
import secrets
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from jupyter_client.blocking import BlockingKernelClient
from kernel_helpers import fast_routing_file, free_port, run_cell
from support.processes import stop


def call(url: str, token: str, method: str = "GET", body: Any = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        url, data=data, method=method, headers={"Authorization": f"token {token}"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


@pytest.fixture(scope="module")
def server_kernel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, str, str, Any]]:
    base = tmp_path_factory.mktemp("server")
    runtime, root, data, config = base / "runtime", base / "root", base / "data", base / "config"
    for d in (runtime, root, data, config):
        d.mkdir()
    port, token = free_port(), secrets.token_hex(16)
    env = {
        **os.environ,
        "JUPYTER_RUNTIME_DIR": str(runtime),
        "JUPYTER_CONFIG_DIR": str(config),
        "NEXUS_DATA_DIR": str(data),
        "NEXUS_ROUTING_FILE": str(fast_routing_file(base)),
    }
    env.pop("NEXUS_TRANSPORT", None)
    env.pop("NEXUS_SERVER_URL", None)
    log = (base / "server.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyter_server", "--allow-root", "--no-browser", f"--port={port}",
         "--ip=127.0.0.1", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}"],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/"
    client = None
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                assert call(url + "nexus/api/v1/status", token)["name"] == "nexus"
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, (base / "server.log").read_text()
                time.sleep(0.5)
        kernel = call(url + "api/kernels", token, "POST", {"name": "python3"})
        client = BlockingKernelClient()
        client.load_connection_file(str(runtime / f"kernel-{kernel['id']}.json"))
        client.start_channels(hb=False)  # the server owns the kernel; its heartbeat is not ours to judge
        client.wait_for_ready(timeout=120)
        assert run_cell(client, "%load_ext nexus_kernel").status == "ok"
        yield client, url, token, base
    finally:
        if client is not None:
            client.stop_channels()
        stop(proc, 30)
        log.close()


def test_the_kernel_uses_the_server_that_started_it(server_kernel: tuple[Any, str, str, Any]) -> None:
    client, url, _, _ = server_kernel
    run = run_cell(client, "%nexus status")
    assert f"answers come from server ({url})" in run.stdout, run.text()


def test_generate_through_the_server_is_recorded_there(server_kernel: tuple[Any, str, str, Any]) -> None:
    client, *_ = server_kernel
    run = run_cell(client, "%%nexus generate\nWrite a Python function add(a, b) that returns a + b.")
    assert run.status == "ok" and not run.stderr, run.text()
    [next_cell] = [p for p in run.payload if p.get("source") == "set_next_input"]
    ast.parse(next_cell["text"])
    meta = run.nexus_meta()
    assert meta["transport"] == "server" and meta["model"] == "SmolLM2-135M-Instruct"
    assert isinstance(meta["interaction_id"], int)  # the server stored the interaction


def test_fix_and_interpolation_through_the_server(server_kernel: tuple[Any, str, str, Any]) -> None:
    from nexus_kernel.transport import prompt_hash

    client, *_ = server_kernel
    failing = run_cell(client, "items = []\nfirst = 1 / len(items)\n")
    assert failing.errors[0]["ename"] == "ZeroDivisionError"
    run = run_cell(client, "%nexus fix --max-tokens 48")
    assert run.status == "ok" and not run.stderr, run.text()
    shown = run.outputs[-1]["data"]["text/markdown"]
    # the facts come from the kernel, whichever transport answers
    assert shown.startswith("**ZeroDivisionError**: division by zero - line 2: `first = 1 / len(items)`")
    assert "Cause: the divisor `len(items)` is 0." in shown
    assert run.nexus_meta()["transport"] == "server"
    run_cell(client, "topic = 'recursion'")
    asked = run_cell(client, '%nexus ask --max-tokens 32 "Define {topic} in one sentence."')
    assert asked.nexus_meta()["prompt_hash"] == prompt_hash(
        "natural_language", "Define recursion in one sentence.", {}
    )
    wrong = run_cell(client, "%nexus ask --model gpt-17 hello")
    assert wrong.stderr.startswith("nexus: --model needs the in-process engine")


def test_answers_stream_while_the_model_writes_and_feedback_reaches_the_server(
    server_kernel: tuple[Any, str, str, Any],
) -> None:
    client, _, _, base = server_kernel
    run = run_cell(client, '%nexus ask --max-tokens 96 "Explain what a Python generator is."')
    assert run.status == "ok" and not run.stderr, run.text()
    meta = run.nexus_meta()
    assert meta["transport"] == "server" and isinstance(meta["interaction_id"], int)
    # The websocket's deltas show up one after another: the answer grows in place before it is done.
    partial = [text.removesuffix(" ▍") for text in run.shown[:-1]]
    assert len(partial) >= 2 and len(set(partial)) >= 2, run.shown
    assert partial[0].strip() and all(b.startswith(a) for a, b in itertools.pairwise(partial)), partial
    assert run.shown[-1].startswith(partial[-1])
    # What the frontend copies into the cell's metadata.nexus.
    cell = run.outputs[-1]["metadata"]["nexus_cell"]
    assert cell == {
        "model": meta["model"], "provider": meta["provider"], "prompt_id": meta["prompt_hash"],
        "interaction_id": meta["interaction_id"],
    }  # fmt: skip

    rated = run_cell(client, "%nexus feedback down")
    assert "the NEXUS server's learning system" in rated.stdout, rated.text()
    with sqlite3.connect(base / "data" / "nexus.db") as db:
        rows = db.execute(
            "SELECT f.kind, f.rating, i.task FROM feedback f JOIN interactions i ON i.id = f.interaction_id "
            "WHERE f.interaction_id = ?",
            (meta["interaction_id"],),
        ).fetchall()
    assert rows == [("down", -1, "natural_language")]


def test_learn_and_search_use_the_users_memory_on_the_server(
    server_kernel: tuple[Any, str, str, Any],
) -> None:
    client, url, token, base = server_kernel
    notes = base / "root" / "notes"
    notes.mkdir()
    (notes / "tides.md").write_text(
        "# Tide tables\n\nThe harbour of Port Elsen has its spring tide at 06:40; the boats leave later.\n"
    )
    (notes / "billing.md").write_text("# Billing\n\nInvoices are sent on the first working day of a month.\n")
    run_cell(client, f"import os; os.chdir({str(base / 'root')!r})")
    learned = run_cell(client, "%nexus learn notes")
    assert learned.status == "ok" and not learned.stderr, learned.text()
    assert "from 2 files under notes" in learned.stdout
    bar = learned.outputs[0]["data"]  # the notebook's progress bar, updated in place until the task is done
    assert "<progress" in learned.first_shown["text/html"] and 'data-state="done"' in bar["text/html"]
    tasks = call(url + "nexus/api/v1/tasks", token)["tasks"]  # on the server it was a learn task
    assert [(t["kind"], t["state"]) for t in tasks][:1] == [("learn", "succeeded")]
    found = run_cell(client, "hits = %nexus search when is the spring tide in the harbour\nhits[0]['source']")
    assert found.status == "ok" and not found.stderr, found.text()
    assert "notes/tides.md" in found.outputs[-1]["data"]["text/plain"]
    # The same memory the chat panel and the REST API read: not a second one in the kernel.
    hits = call(url + "nexus/api/v1/memory?q=spring%20tide%20harbour&k=1", token)["results"]
    assert hits[0]["source"] == "notes/tides.md" and "06:40" in hits[0]["text"]
    cleared = run_cell(client, "%nexus clear")
    assert "learned files stay on the NEXUS server" in cleared.stdout


def test_the_model_dashboard_plots_the_servers_numbers(server_kernel: tuple[Any, str, str, Any]) -> None:
    client, *_ = server_kernel
    asked = run_cell(client, '%nexus ask --max-tokens 16 "Say hello in French."')
    assert asked.status == "ok" and not asked.stderr, asked.text()
    run = run_cell(
        client,
        "import json\nfrom nexus_widgets import ModelDashboard\nboard = ModelDashboard(refresh_s=0)\n"
        "print(json.dumps({'series': board.series, 'interval': board.series_interval_s,"
        " 'error': board.error}))",
    )
    assert run.status == "ok", run.text()
    shown = json.loads(run.stdout.strip().splitlines()[-1])
    assert shown["error"] == "" and shown["interval"] > 0
    series = shown["series"]
    assert series, "the server kept no series"
    # The answers this module's tests got from the server are in it: latency, speed, queue depth.
    answered = [p for p in series if p["generations"]]
    assert answered and all(p["latency_ms_p50"] > 0 and p["tokens_per_s"] > 0 for p in answered)
    assert {"fallbacks", "queue_pending", "queue_running", "ttft_ms_p50"} <= set(series[0])
    times = [p["at"] for p in series]
    assert times == sorted(times) and len(set(times)) == len(times)
