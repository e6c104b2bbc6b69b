"""The shipped alerting rules (``deploy/prometheus/nexus-alerts.rules.yml``, embedded in
``deploy/k8s/alerts.yaml``).

``promtool`` (the Debian package ``prometheus``; ``make system-deps``) checks the rules and runs
``alerts_test.yml``, where each alert fires once its metric is driven past the threshold for its
duration and stays silent just short of it. The rules cannot drift from the code: a real gateway
process is driven into each condition (a model server that is down, a full queue, a caller over
the rate limit) and its ``/metrics`` must carry every metric the rules read, with the label values
they match; the storage health gauge comes from a real Jupyter server's ``/metrics``, healthy and
with both stores down. Each alert has a runbook in
``docs/operations.md``.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from support.processes import stop

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "nexus-alerts.rules.yml"
K8S_ALERTS = ROOT / "deploy" / "k8s" / "alerts.yaml"
UNIT_TESTS = Path(__file__).with_name("alerts_test.yml")
OPERATIONS = ROOT / "docs" / "operations.md"

# Where each metric the rules read comes from: the storage gauge from the users' Jupyter servers (the
# stores are theirs), the rest from the gateway (which shares the router and engines with the servers).
FROM_SERVER = {"nexus_storage_healthy"}


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail("promtool is not installed: `make system-deps` installs it (Debian package prometheus)")
    return path


def rules() -> list[dict[str, Any]]:
    return [rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]]


def rule_metrics() -> set[str]:
    return {name for rule in rules() for name in re.findall(r"\bnexus_[a-z_]+\b", rule["expr"])}


def slug(heading: str) -> str:
    """GitHub's anchor for a Markdown heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def run(*args: str) -> str:
    proc = subprocess.run([promtool(), *args], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, f"promtool {' '.join(args)} failed:\n{proc.stdout}{proc.stderr}"
    return proc.stdout


def test_rules_are_valid_and_each_alert_fires_past_its_threshold_and_only_then() -> None:
    assert f"SUCCESS: {len(rules())} rules found" in run("check", "rules", str(RULES))
    assert "SUCCESS" in run("test", "rules", str(UNIT_TESTS))


def test_every_alert_has_a_firing_case_and_a_silent_one() -> None:
    fires, silent = set(), set()
    for case in yaml.safe_load(UNIT_TESTS.read_text())["tests"]:
        for check in case["alert_rule_test"]:
            (fires if check["exp_alerts"] else silent).add(check["alertname"])
    names = {rule["alert"] for rule in rules()}
    assert fires == names and silent == names


def test_the_prometheus_rule_is_the_rules_file_and_the_gateway_and_user_servers_are_scraped() -> None:
    docs = {d["kind"]: d for d in yaml.safe_load_all(K8S_ALERTS.read_text()) if d}
    assert docs["PrometheusRule"]["apiVersion"] == "monitoring.coreos.com/v1"
    assert docs["PrometheusRule"]["spec"] == yaml.safe_load(RULES.read_text()), (
        "deploy/k8s/alerts.yaml's PrometheusRule must embed deploy/prometheus/nexus-alerts.rules.yml as it is"
    )
    gateway = {d["kind"]: d for d in yaml.safe_load_all((ROOT / "deploy/k8s/gateway.yaml").read_text()) if d}
    service, monitor = gateway["Service"], docs["ServiceMonitor"]["spec"]
    assert monitor["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    [endpoint] = monitor["endpoints"]
    assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}
    assert endpoint["path"] == "/metrics"

    # The storage gauge is the user servers': their pods are scraped too, and the chart's values let
    # Prometheus in (tests/deploy/test_k8s_server.py scrapes a server started from these values).
    pods = docs["PodMonitor"]["spec"]
    assert pods["selector"]["matchLabels"] == {"component": "singleuser-server"}  # Z2JH's user pods
    [endpoint] = pods["podMetricsEndpoints"]
    assert endpoint["port"] == "notebook-port"  # KubeSpawner's name for the server's port
    [relabel] = endpoint["relabelings"]
    assert relabel["targetLabel"] == "__metrics_path__"
    assert relabel["sourceLabels"] == ["__meta_kubernetes_pod_annotation_hub_jupyter_org_username"]
    values = yaml.safe_load((ROOT / "deploy/k8s/values.yaml").read_text())
    ingress = values["singleuser"]["networkPolicy"]["ingress"]
    assert any({"port": "notebook-port", "protocol": "TCP"} in rule["ports"] for rule in ingress)


def test_every_alert_has_a_severity_a_summary_and_a_runbook() -> None:
    text = OPERATIONS.read_text()
    sections = re.split(r"^#{2,4} ", text, flags=re.M)
    by_anchor = {slug(s.splitlines()[0]): s for s in sections[1:]}
    table = text[text.index("## Alerts") :]
    for rule in rules():
        name = rule["alert"]
        assert rule["labels"]["severity"] in ("critical", "warning", "info"), name
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], name
        url = rule["annotations"]["runbook_url"]
        assert url == f"docs/operations.md#{name.lower()}", url
        runbook = by_anchor.get(url.split("#")[1])
        assert runbook is not None, f"docs/operations.md has no runbook heading for {name}"
        for part in ("What it means", "Check", "Do"):
            assert f"**{part}**" in runbook, f"the {name} runbook lacks '{part}'"
        assert f"[`{name}`](#{name.lower()})" in table, f"the Alerts table lacks {name}"


def test_every_metric_the_rules_read_has_a_known_source() -> None:
    assert rule_metrics() >= FROM_SERVER


# -- the rules against the real exporters -------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def scrape(text: str) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, []).append(sample)
    return out


def value(samples: dict[str, list[Any]], name: str, **labels: str) -> float:
    found = [s.value for s in samples.get(name, []) if labels.items() <= s.labels.items()]
    assert found, f"{name}{labels} is not exported"
    return float(sum(found))


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """A real gateway process: chat goes to a model server that is down, ``nexus-local`` to the bundled
    model, whose in-process queue holds one request; a caller may send 20 requests at once, then is
    refused (rate)."""
    routing = tmp_path / "routing.yaml"
    routing.write_text(
        "providers:\n"
        f"  remote: {{kind: openai, base_url: 'http://127.0.0.1:{free_port()}/v1', api_key: none}}\n"
        '  local: {kind: local, model: "bundled:SmolLM2-135M-Instruct", max_queue: 1}\n'
        "tasks:\n"
        "  natural_language:\n"
        "    chain: [{provider: remote, model: big-model}]\n"
        "    limits: {timeout_s: 300, max_tokens: 256}\n"
    )
    port, token, log = free_port(), "alerts-test-token", tmp_path / "gateway.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "nexus_server_ext.gateway", "--host", "127.0.0.1", "--port", str(port),
         "--token", token, "--no-hub", "--routing-file", str(routing), "--burst", "20",
         "--rate-per-minute", "0.001", "--prefix", "/services/nexus-gateway/"],
        stdout=log.open("w"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{base}/metrics").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, f"the gateway exited:\n{log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"the gateway did not start:\n{log.read_text()[-3000:]}"
            time.sleep(0.3)
        yield base, token
    finally:
        stop(proc)


def queues(base: str) -> dict[str, float]:
    """How full each local engine's queue is, by backend, as NexusQueueSaturated reads it."""
    found = scrape(httpx.get(f"{base}/metrics").text)
    capacity = {tuple(sorted(s.labels.items())): s.value for s in found["nexus_engine_queue_capacity"]}
    return {
        s.labels["backend"]: s.value / capacity[tuple(sorted(s.labels.items()))]
        for s in found["nexus_engine_queue_requests"]
    }


def test_the_gateway_exports_every_metric_the_rules_read(gateway: tuple[str, str]) -> None:
    base, token = gateway
    auth = {"Authorization": f"Bearer {token}"}
    api = httpx.Client(base_url=f"{base}/v1", headers=auth, timeout=120)
    ask = {"messages": [{"role": "user", "content": "Say hi."}], "max_tokens": 2}
    for _ in range(3):  # the model server is down: failed answers, then its breaker opens
        reply = api.post("chat/completions", json={"model": "natural_language", **ask})
        assert reply.status_code == 503, reply.text
    assert api.post("chat/completions", json={"model": "nexus-local", **ask}).status_code == 200
    deadline = time.monotonic() + 10  # the engine frees its place just after the answer's last token
    while max(queues(base).values()) > 0:
        assert time.monotonic() < deadline
        time.sleep(0.05)

    # Long answers until the serving engine's queue is full (one in-process; llama-server: its slots),
    # then one more request is refused as busy; closing the streams cancels them and frees the queue.
    long = {"model": "nexus-local", "prompt": "def fibonacci(n):\n", "max_tokens": 160, "stream": True}
    with ExitStack() as open_streams:
        streams = []
        while not (full := [backend for backend, share in queues(base).items() if share >= 1]):
            assert len(streams) < 8, "the engine's queue never filled"
            stream = open_streams.enter_context(api.stream("POST", "completions", json=long))
            assert stream.status_code == 200
            lines = stream.iter_lines()
            assert next(line for line in lines if line.startswith("data:"))  # the engine is answering it
            streams.append(lines)
        busy = api.post("chat/completions", json={"model": "nexus-local", **ask})
        assert busy.status_code == 503 and busy.json()["error"]["code"] == "overloaded", busy.text
    deadline = time.monotonic() + 60
    while max(queues(base).values()) > 0:
        assert time.monotonic() < deadline, "cancelled answers kept their places in the queue"
        time.sleep(0.1)
    for _ in range(20):  # over the rate: refused before any model
        refused = api.post("chat/completions", json={"model": "natural_language", **ask})
        if refused.status_code == 429:
            break
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "rate_limited"

    # Prometheus scrapes the pod without a token; the Hub's proxy (the prefixed paths) does not publish it.
    assert httpx.get(f"{base}/services/nexus-gateway/metrics").status_code == 404
    found = scrape(httpx.get(f"{base}/metrics").text)

    missing = {m for m in rule_metrics() - FROM_SERVER if m not in found}
    assert not missing, f"the rules read metrics the gateway does not export: {missing}"
    answers = "nexus_model_answers_total"
    assert value(found, answers, task="natural_language", outcome="failed") >= 3
    assert value(found, answers, task="natural_language", outcome="busy") == 1
    answered = value(found, answers, task="natural_language", outcome="ok")  # cancelled ones are not
    ttft = value(found, "nexus_generation_ttft_seconds_count", model="nexus-local")
    assert answered >= 1 and ttft == answered
    assert value(found, "nexus_circuit_breaker_open", provider="remote") == 1
    assert value(found, "nexus_circuit_breaker_open", provider="local") == 0
    assert value(found, "nexus_engine_queue_requests", model="bundled:SmolLM2-135M-Instruct") == 0
    assert value(found, "nexus_gateway_refusals_total", reason="rate") == 1
    requests = "nexus_gateway_requests_total"
    assert value(found, requests, handler="GenerationHandler", status="429") == 1
    assert value(found, requests, handler="GenerationHandler", status="503") >= 4
    assert value(found, requests, handler="CompletionsHandler", status="200") == len(streams)
    assert value(found, "nexus_engine_queue_capacity", backend=full[0]) == len(streams)

    # The label values the rules match are ones the gateway really uses.
    from nexus_server_ext.ai.router import ModelRouter
    from nexus_server_ext.ai.routing import load_routing
    from nexus_server_ext.gateway import make_app

    app = make_app(ModelRouter(load_routing()), "t")
    handlers = {getattr(rule.target, "__name__", "") for rule in app.wildcard_router.rules}
    for rule in rules():
        for alternatives in re.findall(r'handler=~"([^"]+)"', rule["expr"]):
            assert set(alternatives.split("|")) <= handlers, (rule["alert"], handlers)
        for outcome in re.findall(r'outcome="([^"]+)"', rule["expr"]):
            assert any(s.labels["outcome"] == outcome for s in found["nexus_model_answers_total"])


async def test_the_server_exports_the_storage_health(jp_fetch: Any, nexus_services: Any) -> None:
    await jp_fetch("nexus/api/v1/status")
    await nexus_services.ready()  # the deferred services: the memory's live check replaces the probe
    status = json.loads((await jp_fetch("nexus/api/v1/status")).body)
    memory = next(c for c in status["components"] if c["name"] == "vector_memory")
    assert memory["state"] == "ok" and "answers" in memory["detail"], memory
    found = scrape((await jp_fetch("metrics")).body.decode())
    assert set(found) >= FROM_SERVER
    assert value(found, "nexus_storage_healthy", store="database") == 1
    assert value(found, "nexus_storage_healthy", store="vector_memory") == 1


class TestStoresDown:
    """A database and a Chroma server that do not answer read 0: what NexusStorageUnhealthy fires on."""

    @pytest.fixture
    def jp_server_config(self, nexus_config: Any) -> dict[str, Any]:
        return nexus_config(
            database_url="postgresql://nexus:x@127.0.0.1:1/nexus",
            other={"VectorMemory": {"chroma_host": "127.0.0.1", "chroma_port": free_port()}},
        )

    async def test_both_stores_read_unhealthy(self, jp_fetch: Any, nexus_services: Any) -> None:
        status = json.loads((await jp_fetch("nexus/api/v1/status")).body)
        assert status["storage"]["healthy"] is False
        await nexus_services.ready()  # the deferred services, the memory among them
        status = json.loads((await jp_fetch("nexus/api/v1/status")).body)
        memory = next(c for c in status["components"] if c["name"] == "vector_memory")
        assert memory["state"] == "degraded" and "does not answer" in memory["detail"], memory
        found = scrape((await jp_fetch("metrics")).body.decode())
        assert value(found, "nexus_storage_healthy", store="database") == 0
        assert value(found, "nexus_storage_healthy", store="vector_memory") == 0
