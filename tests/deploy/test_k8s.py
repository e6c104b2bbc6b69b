"""The Kubernetes deployment files: Zero to JupyterHub values, the gateway and vLLM manifests.

No helm binary or chart is reachable from the build machines, so the values are
checked for the keys and shapes the chart (jupyterhub 4.x) requires, and the
manifests for agreeing with each other: the gateway Service is where the values
send user servers, its token is the Secret the chart generates, its routing
ConfigMap is a valid NEXUS routing file with and without vLLM, and vLLM is
where the gateway's vllm provider points, with the model name and key it sends.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml

from nexus_server_ext.ai.routing import load_routing

K8S = Path(__file__).resolve().parents[2] / "deploy" / "k8s"

# Top-level and per-section keys the chart's schema allows (it sets additionalProperties: false).
CHART_TOP = {
    "enabled", "fullnameOverride", "nameOverride", "imagePullSecret", "imagePullSecrets", "hub", "proxy",
    "singleuser", "scheduling", "ingress", "httpRoute", "prePuller", "custom", "cull", "debug", "rbac",
    "global",
}  # fmt: skip
CHART_HUB = {
    "config", "services", "loadRoles", "extraConfig", "extraEnv", "db", "image", "resources", "nodeSelector",
    "tolerations", "networkPolicy", "allowNamedServers", "concurrentSpawnLimit", "cookieSecret", "baseUrl",
}  # fmt: skip
CHART_SINGLEUSER = {
    "image", "defaultUrl", "cmd", "cpu", "memory", "storage", "extraEnv", "profileList", "nodeSelector",
    "extraTolerations", "extraResource", "networkPolicy", "startTimeout", "uid", "fsGid",
}  # fmt: skip
KUBESPAWNER_OVERRIDES = {
    "cpu_limit", "cpu_guarantee", "mem_limit", "mem_guarantee", "extra_resource_limits",
    "extra_resource_guarantees", "node_selector", "tolerations", "image",
}  # fmt: skip


def load_all(name: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((K8S / name).read_text()) if d]


@pytest.fixture(scope="module")
def values() -> dict[str, Any]:
    data = yaml.safe_load((K8S / "values.yaml").read_text())
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def gateway() -> dict[str, dict[str, Any]]:
    return {d["kind"]: d for d in load_all("gateway.yaml")}


def test_values_use_only_keys_the_chart_knows(values: dict[str, Any]) -> None:
    assert set(values) <= CHART_TOP
    assert set(values["hub"]) <= CHART_HUB
    assert set(values["singleuser"]) <= CHART_SINGLEUSER
    for role, spec in values["hub"]["loadRoles"].items():
        assert isinstance(spec["scopes"], list) and spec["scopes"], role
        assert set(spec) <= {"name", "description", "scopes", "users", "services", "groups"}
    for name, env in values["singleuser"]["extraEnv"].items():
        assert isinstance(env, str) or set(env) == {"valueFrom"}, name
    assert all(isinstance(v, str) for v in values["hub"]["extraConfig"].values())


def test_cpu_and_gpu_profiles(values: dict[str, Any]) -> None:
    profiles = values["singleuser"]["profileList"]
    assert all("display_name" in p for p in profiles)
    assert sum(1 for p in profiles if p.get("default")) == 1
    gpu = [p for p in profiles if "nvidia.com/gpu" in p.get("kubespawner_override", {}).get(
        "extra_resource_limits", {})]  # fmt: skip
    assert len(gpu) == 1
    override = gpu[0]["kubespawner_override"]
    assert set(override) <= KUBESPAWNER_OVERRIDES
    assert override["extra_resource_limits"]["nvidia.com/gpu"] == "1"
    assert override["node_selector"]
    assert any(t["key"] == "nvidia.com/gpu" and t["effect"] == "NoSchedule" for t in override["tolerations"])


def test_gateway_runs_on_the_gpu_pool_and_is_where_user_servers_look(
    values: dict[str, Any], gateway: dict[str, dict[str, Any]]
) -> None:
    deployment, service = gateway["Deployment"], gateway["Service"]
    pod = deployment["spec"]["template"]["spec"]
    gpu_profile = next(p for p in values["singleuser"]["profileList"] if "kubespawner_override" in p)
    assert pod["nodeSelector"] == gpu_profile["kubespawner_override"]["node_selector"]
    assert any(t["key"] == "nvidia.com/gpu" for t in pod["tolerations"])
    [container] = pod["containers"]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert "--hub" in container["args"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    assert labels.get("hub.jupyter.org/network-access-hub") == "true"

    port = service["spec"]["ports"][0]["port"]
    hub_url = urlparse(values["hub"]["services"]["nexus-gateway"]["url"])
    user_url = urlparse(values["singleuser"]["extraEnv"]["NEXUS_GATEWAY_URL"])
    for url in (hub_url, user_url):
        assert url.hostname is not None and url.hostname.split(".")[0] == service["metadata"]["name"]
        assert url.port == port
    assert user_url.path == "/v1"

    env = {e["name"]: e for e in container["env"]}
    assert env["JUPYTERHUB_SERVICE_NAME"]["value"] == "nexus-gateway"
    secret = env["JUPYTERHUB_API_TOKEN"]["valueFrom"]["secretKeyRef"]
    assert secret == {"name": "hub", "key": "hub.services.nexus-gateway.apiToken"}
    assert env["NEXUS_REDIS_URL"]["value"].startswith("redis://nexus-redis:")


def test_users_may_call_the_gateway_and_admins_read_usage(values: dict[str, Any]) -> None:
    roles = values["hub"]["loadRoles"]
    assert "access:services!service=nexus-gateway" in roles["user"]["scopes"]
    assert "custom:nexus-gateway:usage" in roles["nexus-usage-admin"]["scopes"]
    config = values["hub"]["extraConfig"]["nexus"]
    assert "custom:nexus-gateway:usage" in config and "server_token_scopes" in config
    compile(config, "extraConfig.nexus", "exec")


@pytest.mark.parametrize("vllm", [False, True])
def test_gateway_routing_is_valid_with_and_without_vllm(
    vllm: bool, gateway: dict[str, dict[str, Any]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "routing.yaml"
    path.write_text(gateway["ConfigMap"]["data"]["routing.yaml"])
    if vllm:
        monkeypatch.setenv("NEXUS_VLLM_URL", "http://vllm:8000/v1")
    else:
        monkeypatch.delenv("NEXUS_VLLM_URL", raising=False)
    routing = load_routing(str(path))
    for task in ("code_generation", "natural_language", "code_analysis", "completion"):
        first = routing.chain(task)[0]
        assert (first.provider, first.model) == ("vllm", "nexus")  # vllm --served-model-name nexus
        assert routing.chain(task)[-1].provider == "local"
    vllm_spec = routing.providers["vllm"]
    assert bool(vllm_spec.get("base_url")) is vllm, "without NEXUS_VLLM_URL the vllm step is skipped"


def test_backends_are_the_services_the_values_name(values: dict[str, Any]) -> None:
    names = {d["metadata"]["name"] for d in load_all("backends.yaml") if d["kind"] == "Service"}
    assert {"nexus-postgres", "nexus-redis", "nexus-chroma"} <= names
    chroma = urlparse(values["singleuser"]["extraEnv"]["NEXUS_CHROMA_URL"])
    assert chroma.hostname is not None and chroma.hostname.split(".")[0] == "nexus-chroma"


# vLLM behind the gateway (vllm.yaml)

DOCS = K8S.parents[1] / "docs" / "deploy.md"
_ENV_REF = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


@pytest.fixture(scope="module")
def vllm() -> dict[str, dict[str, Any]]:
    docs = load_all("vllm.yaml")
    kinds = [d["kind"] for d in docs]
    assert len(kinds) == len(set(kinds)), "one document of each kind"
    return {d["kind"]: d for d in docs}


def only_container(deployment: dict[str, Any]) -> dict[str, Any]:
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    return container


def container_port(container: dict[str, Any], port: int | str) -> int:
    """The container port a Service targetPort or probe port (a name or a number) lands on."""
    for p in container.get("ports", []):
        if port in (p.get("name"), p["containerPort"]):
            return int(p["containerPort"])
    raise AssertionError(f"port {port!r} is not a port of container {container['name']}")


def serve_command(container: dict[str, Any]) -> tuple[str, dict[str, str]]:
    """The model and the ``--flag value`` options of ``vllm serve``, with ``$(VAR)`` from literal env."""
    env = {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}

    def expand(arg: str) -> str:
        return _ENV_REF.sub(lambda m: env.get(m.group(1), m.group(0)), str(arg))

    assert container["command"] == ["vllm", "serve"]
    args = [expand(a) for a in container["args"]]
    model, rest = args[0], args[1:]
    assert not model.startswith("-"), "the model comes first"
    flags: dict[str, str] = {}
    while rest:
        flag, *rest = rest
        assert flag.startswith("--"), flag
        if "=" in flag:
            flag, value = flag.split("=", 1)
        else:
            value, *rest = rest
        flags[flag] = value
    return model, flags


def secret_ref(container: dict[str, Any], name: str) -> dict[str, Any]:
    [entry] = [e for e in container["env"] if e["name"] == name]
    return dict(entry["valueFrom"]["secretKeyRef"])


def docs_secrets() -> dict[str, set[str]]:
    """Secret name -> keys, from the ``kubectl create secret generic`` commands in docs/deploy.md."""
    text = DOCS.read_text().replace("\\\n", " ")
    secrets: dict[str, set[str]] = {}
    for line in text.splitlines():
        match = re.search(r"kubectl create secret generic ([\w.-]+)", line)
        if match:
            keys = re.findall(r"--from-literal=([\w.-]+)=", line)
            secrets.setdefault(match.group(1), set()).update(keys)
    return secrets


def secret_refs(tree: Any) -> list[dict[str, Any]]:
    if isinstance(tree, dict):
        found = [tree["secretKeyRef"]] if "secretKeyRef" in tree else []
        return found + [r for v in tree.values() for r in secret_refs(v)]
    if isinstance(tree, list):
        return [r for v in tree for r in secret_refs(v)]
    return []


def test_vllm_manifests_parse_and_the_service_reaches_the_pod(vllm: dict[str, dict[str, Any]]) -> None:
    assert set(vllm) == {"PersistentVolumeClaim", "Deployment", "Service", "NetworkPolicy"}
    deployment, service = vllm["Deployment"], vllm["Service"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert service["spec"]["selector"].items() <= labels.items()
    assert service["metadata"]["name"] == "vllm"
    [port] = service["spec"]["ports"]
    assert port["port"] == 8000
    container = only_container(deployment)
    _, flags = serve_command(container)
    assert container_port(container, port["targetPort"]) == int(flags["--port"])


def test_vllm_runs_on_the_gpu_pool_with_probes_and_a_model_cache(
    values: dict[str, Any], vllm: dict[str, dict[str, Any]]
) -> None:
    pod = vllm["Deployment"]["spec"]["template"]["spec"]
    gpu_profile = next(p for p in values["singleuser"]["profileList"] if "kubespawner_override" in p)
    assert pod["nodeSelector"] == gpu_profile["kubespawner_override"]["node_selector"]
    assert any(t["key"] == "nvidia.com/gpu" and t["effect"] == "NoSchedule" for t in pod["tolerations"])
    # A Service named "vllm" would otherwise put VLLM_PORT=tcp://... in the pod, which vLLM rejects.
    assert pod["enableServiceLinks"] is False
    container = only_container(vllm["Deployment"])
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    image, _, tag = container["image"].partition(":")
    assert image == "vllm/vllm-openai" and re.fullmatch(r"v\d+\.\d+\.\d+", tag), "a pinned release tag"
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        check = container[probe]["httpGet"]
        assert check["path"] == "/health", probe
        container_port(container, check["port"])

    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert mounts["model-cache"] == "/root/.cache/huggingface"
    [cache] = [v for v in pod["volumes"] if v["name"] == "model-cache"]
    assert cache["persistentVolumeClaim"]["claimName"] == vllm["PersistentVolumeClaim"]["metadata"]["name"]
    assert vllm["Deployment"]["spec"]["strategy"]["type"] == "Recreate", "one GPU, one RWO volume"


def test_vllm_serves_the_model_name_the_routing_chains_ask_for(
    vllm: dict[str, dict[str, Any]], gateway: dict[str, dict[str, Any]]
) -> None:
    model, flags = serve_command(only_container(vllm["Deployment"]))
    assert model == "Qwen/Qwen2.5-Coder-0.5B-Instruct"
    routing = yaml.safe_load(gateway["ConfigMap"]["data"]["routing.yaml"])
    asked = {s["model"] for t in routing["tasks"].values() for s in t["chain"] if s["provider"] == "vllm"}
    assert asked == {flags["--served-model-name"]}
    assert int(flags["--max-num-seqs"]) > 0
    assert 0 < float(flags["--gpu-memory-utilization"]) <= 1


def test_gateway_vllm_url_is_the_vllm_service(
    vllm: dict[str, dict[str, Any]], gateway: dict[str, dict[str, Any]]
) -> None:
    env = {e["name"]: e for e in only_container(gateway["Deployment"])["env"]}
    url = urlparse(env["NEXUS_VLLM_URL"]["value"])
    service = vllm["Service"]
    assert url.scheme == "http"
    assert url.hostname == service["metadata"]["name"]
    assert url.port == service["spec"]["ports"][0]["port"]
    assert url.path == "/v1", "the openai provider appends /chat/completions"


def test_vllm_api_key_is_one_secret_key_the_docs_create(
    vllm: dict[str, dict[str, Any]], gateway: dict[str, dict[str, Any]]
) -> None:
    container = only_container(vllm["Deployment"])
    _, flags = serve_command(container)
    match = _ENV_REF.fullmatch(flags["--api-key"])
    assert match, "--api-key comes from an env var, never a literal"
    served = secret_ref(container, match.group(1))
    assert secret_ref(only_container(gateway["Deployment"]), "NEXUS_VLLM_API_KEY") == served
    assert served["key"] in docs_secrets().get(served["name"], set()), "docs/deploy.md creates it"
    provider = yaml.safe_load(gateway["ConfigMap"]["data"]["routing.yaml"])["providers"]["vllm"]
    assert provider["api_key"].startswith("${NEXUS_VLLM_API_KEY")


def test_every_secret_the_manifests_read_is_created_by_the_docs_or_the_chart(values: dict[str, Any]) -> None:
    created = docs_secrets()
    trees = [values, *load_all("gateway.yaml"), *load_all("backends.yaml"), *load_all("vllm.yaml")]
    refs = [r for tree in trees for r in secret_refs(tree)]
    assert len(refs) >= 5
    for ref in refs:
        if ref["name"] == "hub":  # generated by the chart
            assert ref["key"].startswith("hub.services."), ref
        else:
            assert ref["key"] in created.get(ref["name"], set()), ref


def test_only_the_gateway_may_call_vllm(
    vllm: dict[str, dict[str, Any]], gateway: dict[str, dict[str, Any]]
) -> None:
    policy = vllm["NetworkPolicy"]["spec"]
    vllm_labels = vllm["Deployment"]["spec"]["template"]["metadata"]["labels"]
    gateway_labels = gateway["Deployment"]["spec"]["template"]["metadata"]["labels"]
    assert policy["podSelector"]["matchLabels"].items() <= vllm_labels.items()
    assert policy["policyTypes"] == ["Ingress"]
    [rule] = policy["ingress"]
    [source] = rule["from"]
    assert source["podSelector"]["matchLabels"].items() <= gateway_labels.items()
    [port] = rule["ports"]
    assert container_port(only_container(vllm["Deployment"]), port["port"]) == 8000


def test_gateway_routing_sends_every_generation_task_to_vllm_first(
    gateway: dict[str, dict[str, Any]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the environment the gateway Deployment sets, the vllm step is configured and first."""
    for entry in only_container(gateway["Deployment"])["env"]:
        if entry["name"].startswith("NEXUS_VLLM_"):
            monkeypatch.setenv(entry["name"], entry.get("value", "a-key-from-the-secret"))
    path = tmp_path / "routing.yaml"
    path.write_text(gateway["ConfigMap"]["data"]["routing.yaml"])
    routing = load_routing(str(path))
    assert routing.configured("vllm")
    assert routing.providers["vllm"]["base_url"] == "http://vllm:8000/v1"
    assert routing.providers["vllm"]["api_key"] == "a-key-from-the-secret"
    for task in ("code_generation", "natural_language", "code_analysis", "completion"):
        assert routing.chain(task)[0].provider == "vllm", task
