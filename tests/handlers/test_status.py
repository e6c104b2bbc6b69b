"""``GET /status`` as a user and an administrator rely on it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from nexus_server_ext import __version__
from nexus_server_ext.components import OptionalComponent

SECRET = "sk-nexus-test-0123456789abcdef"


async def test_status_describes_nexus_on_its_embedded_defaults(jp_fetch: Any, head_revision: str) -> None:
    r = await jp_fetch("nexus/api/v1/status")
    assert r.code == 200
    status = json.loads(r.body)
    assert status["version"] == __version__
    assert status["storage"]["backend"] == "sqlite"
    assert status["storage"]["healthy"] is True and status["storage"]["revision"] == head_revision
    names = [c["name"] for c in status["components"]]
    assert {"local_model", "embeddings", "vector_memory", "voice"} <= set(names)
    chains = {m["task"]: m["chain"] for m in status["models"]}
    generation = {"code_generation", "natural_language", "code_analysis", "completion", "agent"}
    assert set(chains) == {*generation, "embeddings"}
    # The bundled local model closes every generation chain, so NEXUS works offline.
    for task in generation:
        assert chains[task][-1]["provider"] == "local"
    assert r.headers["X-Request-Id"]


def test_a_missing_extra_is_named_with_its_install_command() -> None:
    status = OptionalComponent("voice", ("nexus_module_that_is_not_installed",), "voice", "Voice").probe()
    assert status.state == "unavailable"
    assert "nexus_module_that_is_not_installed" in status.detail
    assert status.install_hint == 'pip install "nexus-jupyter[voice]"'


class TestSecretsStayHidden:
    @pytest.fixture
    def jp_server_config(self, nexus_config: Any, postgres_url: str, monkeypatch: Any) -> dict[str, Any]:
        # trust auth ignores the password, so a real password-bearing URL still connects
        postgres_url = postgres_url.replace("postgres@", f"postgres:{SECRET}@")
        monkeypatch.setenv("OPENAI_API_KEY", SECRET)
        monkeypatch.setenv("ANTHROPIC_API_KEY", SECRET)
        return nexus_config(database_url=postgres_url)

    async def test_status_never_shows_keys_or_database_passwords(self, jp_fetch: Any) -> None:
        r = await jp_fetch("nexus/api/v1/status")
        body = r.body.decode()
        status = json.loads(body)
        assert status["storage"]["backend"] == "postgresql" and status["storage"]["healthy"] is True
        assert SECRET not in body
        assert "***" in status["storage"]["url"]


class TestStorageDown:
    @pytest.fixture
    def jp_server_config(self, nexus_config: Any) -> dict[str, Any]:
        return nexus_config(database_url=f"postgresql://nexus:{SECRET}@127.0.0.1:1/nexus")

    async def test_server_still_starts_and_says_storage_is_down(self, jp_fetch: Any) -> None:
        status = json.loads((await jp_fetch("nexus/api/v1/status")).body)
        assert status["storage"]["healthy"] is False
        r = await jp_fetch("nexus/api/v1/conversations", raise_error=False)
        assert r.code == 503
        reply = json.loads(r.body)
        assert reply["error"] == "storage_unavailable"
        assert SECRET not in r.body.decode()


class TestChainSteps:
    """Each step of a chain says whether the router can use it, and whether it is a paid API."""

    @pytest.fixture
    def jp_server_config(self, nexus_config: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
        for name in ("NEXUS_TEST_GATEWAY_URL", "NEXUS_TEST_GATEWAY_TOKEN", "NEXUS_TEST_OPENAI_KEY"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("NEXUS_TEST_CLAUDE_KEY", SECRET)
        routing = """
providers:
  local: {kind: local, model: "bundled:SmolLM2-135M-Instruct"}
  gateway: {kind: openai, base_url: "${NEXUS_TEST_GATEWAY_URL:-}", api_key: "${NEXUS_TEST_GATEWAY_TOKEN:-}"}
  openai: {kind: openai, base_url: "https://api.openai.com/v1", api_key: "${NEXUS_TEST_OPENAI_KEY:-}"}
  claude: {kind: anthropic, base_url: "https://api.anthropic.com", api_key: "${NEXUS_TEST_CLAUDE_KEY:-}"}
  vllm: {kind: openai, base_url: "http://127.0.0.1:9/v1", api_key: "${NEXUS_TEST_CLAUDE_KEY:-}"}
policy: {block_models: ["vllm:blocked-*"]}
tasks:
  natural_language:
    chain:
      - {provider: gateway, model: nexus-local}
      - {provider: openai, model: gpt-4o-mini}
      - {provider: claude, model: claude-3-5-haiku-latest}
      - {provider: vllm, model: blocked-7b}
      - {provider: local, model: SmolLM2-135M-Instruct}
"""
        return nexus_config(routing=routing)

    async def test_steps_say_configured_no_key_or_not_configured_and_paid_or_not(self, jp_fetch: Any) -> None:
        bodies: list[str] = []

        async def steps() -> dict[str, tuple[str, str, str | None]]:
            bodies.append((await jp_fetch("nexus/api/v1/status")).body.decode())
            models = json.loads(bodies[-1])["models"]
            chain = next(m["chain"] for m in models if m["task"] == "natural_language")
            return {s["provider"]: (s["hosting"], s["setup"], s["blocked"]) for s in chain}

        assert await steps() == {
            "gateway": ("gateway", "not_configured", None),  # no URL: skipped, and nobody pays for it
            "openai": ("paid_api", "no_key", None),
            "claude": ("paid_api", "configured", None),  # the environment's key
            "vllm": ("gateway", "configured", "model blocked by policy"),
            "local": ("local", "configured", None),
        }
        # a key the user stores configures the paid API for them at once
        key = "sk-status-own-key-4567"
        r = await jp_fetch(
            "nexus/api/v1/secrets/user/openai", method="PUT", body=json.dumps({"api_key": key})
        )
        assert r.code == 200
        assert (await steps())["openai"] == ("paid_api", "configured", None)
        assert not any(key in b or SECRET in b for b in bodies)
