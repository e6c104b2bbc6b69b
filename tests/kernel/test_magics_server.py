"""The magics in a kernel started by a real Jupyter server running NEXUS: they use that server's API.

The kernel finds its server through the ``jpserver-<pid>.json`` file of its parent
process and authenticates with the server's own token; the answers are recorded
by the server (they carry the server's interaction ids).
"""

from __future__ import annotations

import ast
import json
import os
import secrets
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from jupyter_client.blocking import BlockingKernelClient
from kernel_helpers import fast_routing_file, free_port, run_cell


def call(url: str, token: str, method: str = "GET", body: Any = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        url, data=data, method=method, headers={"Authorization": f"token {token}"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


@pytest.fixture(scope="module")
def server_kernel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, str]]:
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
        client.start_channels()
        client.wait_for_ready(timeout=120)
        assert run_cell(client, "%load_ext nexus_kernel").status == "ok"
        yield client, url
    finally:
        if client is not None:
            client.stop_channels()
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def test_the_kernel_uses_the_server_that_started_it(server_kernel: tuple[Any, str]) -> None:
    client, url = server_kernel
    run = run_cell(client, "%nexus status")
    assert f"answers come from server ({url})" in run.stdout, run.text()


def test_generate_through_the_server_is_recorded_there(server_kernel: tuple[Any, str]) -> None:
    client, _ = server_kernel
    run = run_cell(client, "%%nexus generate\nWrite a Python function add(a, b) that returns a + b.")
    assert run.status == "ok" and not run.stderr, run.text()
    [next_cell] = [p for p in run.payload if p.get("source") == "set_next_input"]
    ast.parse(next_cell["text"])
    meta = run.nexus_meta()
    assert meta["transport"] == "server" and meta["model"] == "SmolLM2-135M-Instruct"
    assert isinstance(meta["interaction_id"], int)  # the server stored the interaction


def test_fix_and_interpolation_through_the_server(server_kernel: tuple[Any, str]) -> None:
    from nexus_kernel.transport import prompt_hash

    client, _ = server_kernel
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
