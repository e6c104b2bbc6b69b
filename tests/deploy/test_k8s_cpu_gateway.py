"""``deploy/k8s/gateway-cpu.yaml``: the gateway for a cluster without GPUs.

It must be a drop-in for ``gateway.yaml`` (the same Service, labels, Hub token and quota settings, so
``values.yaml`` and ``alerts.yaml`` work unchanged), ask for no GPU, and give llama-server the pod's
CPUs. A gateway process started from its routing file and arguments (``--hub`` swapped for a token,
no cluster here) must really serve through llama-server with those threads, and answer.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from support.processes import stop

from nexus_server_ext.ai.routing import load_routing
from nexus_server_ext.gateway.llama_server import LlamaServer

K8S = Path(__file__).resolve().parents[2] / "deploy" / "k8s"


def manifests(name: str) -> dict[str, dict[str, Any]]:
    return {d["kind"]: d for d in yaml.safe_load_all((K8S / name).read_text()) if d}


def container(docs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    [found] = docs["Deployment"]["spec"]["template"]["spec"]["containers"]
    return found


def traits(args: list[str]) -> dict[str, str]:
    return dict(a[2:].split("=", 1) for a in args if a.startswith("--LlamaServer."))


def test_it_replaces_the_gpu_gateway_without_a_gpu() -> None:
    cpu, gpu = manifests("gateway-cpu.yaml"), manifests("gateway.yaml")
    assert cpu["Service"] == gpu["Service"]  # where values.yaml sends user servers, what alerts scrape
    for kind in ("Deployment", "ConfigMap"):
        assert cpu[kind]["metadata"]["name"] == gpu[kind]["metadata"]["name"]
    pod_meta = [d["Deployment"]["spec"]["template"]["metadata"] for d in (cpu, gpu)]
    assert pod_meta[0] == pod_meta[1]  # the labels the Service and the Hub's network policy select
    env = {e["name"]: e for e in container(cpu)["env"]}
    expected = {e["name"]: e for e in container(gpu)["env"] if not e["name"].startswith("NEXUS_VLLM")}
    assert env == expected  # the Hub token, Redis and the quota settings, without vLLM's

    pod = cpu["Deployment"]["spec"]["template"]["spec"]
    assert "nodeSelector" not in pod and "tolerations" not in pod
    resources = container(cpu)["resources"]
    assert not any("gpu" in key for part in resources.values() for key in part)
    assert resources["requests"]["cpu"] == resources["limits"]["cpu"]  # the CPUs are the pod's alone
    cores = int(resources["limits"]["cpu"])
    settings = traits(container(cpu)["args"])
    assert settings["LlamaServer.threads"] == settings["LlamaServer.threads_batch"] == str(cores)


def test_every_task_is_on_the_local_model_on_the_cpu(tmp_path: Path) -> None:
    path = tmp_path / "routing.yaml"
    path.write_text(manifests("gateway-cpu.yaml")["ConfigMap"]["data"]["routing.yaml"])
    routing = load_routing(str(path))
    assert routing.providers["local"]["device"] == "cpu"  # what llama-server adopts
    for task in ("code_generation", "natural_language", "code_analysis", "completion", "agent"):
        assert [(s.provider, s.model) for s in routing.chain(task)] == [("local", "SmolLM2-135M-Instruct")]


def test_a_gateway_started_from_it_serves_through_llama_server(tmp_path: Path, unused_port: int) -> None:
    if LlamaServer().find_binary() is None:
        pytest.fail("llama-server is not built: run `make llama-server` (part of `make install`)")
    docs = manifests("gateway-cpu.yaml")
    routing = tmp_path / "routing.yaml"
    routing.write_text(docs["ConfigMap"]["data"]["routing.yaml"])
    args = list(container(docs)["args"])
    # The cluster's parts swapped for this machine's: no Hub (a shared token), loopback, a free port.
    args.remove("--hub")
    here = {"--host": "127.0.0.1", "--port": str(unused_port), "--routing-file": str(routing)}
    for flag, value in here.items():
        args[args.index(flag) + 1] = value
    token = secrets.token_hex(8)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEXUS_", "JUPYTERHUB_"))}
    log = tmp_path / "gateway.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "nexus_server_ext.gateway", *args, "--no-hub", "--token", token],
            env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{args[args.index('--port') + 1]}/v1"
    headers = {"Authorization": f"Bearer {token}"}
    try:
        deadline = time.monotonic() + 120
        serving: dict[str, Any] = {}
        while serving.get("mode") != "llama-server":
            assert proc.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, f"not serving through llama-server: {serving}"
            time.sleep(0.5)
            try:
                serving = httpx.get(f"{url}/status", headers=headers).json().get("serving", {})
            except httpx.HTTPError:
                continue
        assert "4 parallel slots" in serving["message"] and "4/4 threads" in serving["message"], serving
        reply = httpx.post(
            f"{url}/chat/completions",
            headers=headers,
            json={"model": "natural_language", "messages": [{"role": "user", "content": "Say hi."}],
                  "max_tokens": 8},
            timeout=60,
        )  # fmt: skip
        assert reply.status_code == 200, reply.text
        assert reply.json()["choices"][0]["message"]["content"].strip()
    finally:
        stop(proc)
