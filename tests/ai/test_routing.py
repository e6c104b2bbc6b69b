"""The routing file: schema errors name the bad key, secrets come from the environment and never show."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from nexus_server_ext.ai.router import ModelRouter
from nexus_server_ext.ai.routing import RoutingError, default_routing_file, load_routing


def write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "routing.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def shipped() -> dict:
    return yaml.safe_load(default_routing_file().read_text())


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (
            lambda d: d["tasks"]["completion"]["limits"].update(timeout_s=-1),
            "tasks.completion.limits.timeout_s",
        ),
        (lambda d: d["tasks"]["completion"].update(limitz={}), "tasks.completion.limitz is not a known key"),
        (lambda d: d["tasks"].update(dreaming=d["tasks"]["completion"]), "unknown task name"),
        (lambda d: d["tasks"]["code_generation"]["chain"][0].pop("model"), "tasks.code_generation.chain[0]"),
        (lambda d: d["providers"]["local"].update(device="tpu"), "providers.local.device"),
        (
            lambda d: d["tasks"]["completion"]["chain"].append({"provider": "nope", "model": "m"}),
            "tasks.completion.chain[2].provider 'nope'",
        ),
        (lambda d: d.update(polcy={}), "polcy is not a known key"),
    ],
)
def test_invalid_file_names_the_bad_key(tmp_path: Path, change: object, named: str) -> None:
    data = shipped()
    change(data)  # type: ignore[operator]
    with pytest.raises(RoutingError, match=r"routing\.yaml") as err:
        load_routing(write(tmp_path, data))
    assert named in str(err.value)


def test_secrets_come_from_the_environment_and_never_show(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-very-secret")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://10.1.2.3:9999/v1")
    config = load_routing()
    assert config.providers["openai"]["api_key"] == "sk-very-secret"
    assert config.configured("openai") and not config.configured("gateway") and config.configured("local")
    shown = str([c.model_dump() for c in config.chains()]) + str(ModelRouter(config).describe())
    assert "sk-very-secret" not in shown and "10.1.2.3" not in shown
    data = shipped()
    data["providers"]["openai"]["timeout_s"] = "${OPENAI_API_KEY}"  # wrong type: the error hides the value
    with pytest.raises(RoutingError) as err:
        load_routing(write(tmp_path, data))
    assert "providers.openai.timeout_s" in str(err.value) and "sk-very-secret" not in str(err.value)


def test_shipped_chain_works_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "NEXUS_GATEWAY_URL", "NEXUS_GATEWAY_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    router = ModelRouter(load_routing())
    for task in ("code_generation", "natural_language", "completion"):
        assert [s.provider for s in router.usable_chain(task)] == ["local"]
    assert router.routing.limits("completion").max_tokens == 48


def test_policy_allow_and_block_lists() -> None:
    config = load_routing()
    config.policy = {"allow_providers": ["local", "openai"], "block_models": ["openai:gpt-4*"]}
    assert config.blocked_reason("anthropic", "claude") == "provider not in the allow list"
    assert config.blocked_reason("openai", "gpt-4o-mini") == "model blocked by policy"
    assert config.blocked_reason("openai", "o3") is None
    config.policy = {"allow_models": ["Smol*"]}
    assert config.blocked_reason("local", "SmolLM2-135M-Instruct") is None
    assert config.blocked_reason("openai", "gpt-4o") == "model not in the allow list"
