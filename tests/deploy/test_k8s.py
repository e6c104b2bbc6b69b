"""The Kubernetes deployment files: Zero to JupyterHub values and the gateway manifests.

No helm binary or chart is reachable from the build machines, so the values are
checked for the keys and shapes the chart (jupyterhub 4.x) requires, and the
manifests for agreeing with each other: the gateway Service is where the values
send user servers, its token is the Secret the chart generates, its routing
ConfigMap is a valid NEXUS routing file with and without vLLM.
"""

from __future__ import annotations

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
