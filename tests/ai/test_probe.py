"""The active health probe of remote providers, on a real server: a stand-in speaking the OpenAI protocol
answers, is stopped (or hangs), and the probe marks it down, so the router answers from the fallback
without trying it; started again, the probe brings it back. ``/status`` and ``/models`` say so."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import yaml

from nexus_server_ext.ai.breaker import ProviderHealth
from tests.support.scripted_models import ScriptedModelServer

PROBE_S = 0.2


def hello(_messages: list[dict[str, Any]]) -> dict[str, Any]:
    return {"text": "Hello."}


def routing(primary_url: str, backup_url: str, timeout_s: int = 60) -> str:
    return yaml.safe_dump(
        {
            "providers": {
                "primary": {"kind": "openai", "base_url": primary_url, "api_key": "scripted-key"},
                # its own interval wins over c.ModelRouter.probe_interval_s: never probed
                "backup": {
                    "kind": "openai",
                    "base_url": backup_url,
                    "api_key": "scripted-key",
                    "probe_interval_s": 0,
                },
            },
            "tasks": {
                "natural_language": {
                    "chain": [
                        {"provider": "primary", "model": "gpt-x"},
                        {"provider": "backup", "model": "gpt-y"},
                    ],
                    "limits": {"timeout_s": timeout_s, "max_tokens": 16},
                }
            },
        }
    )


def probed(nexus_config: Any, routing_yaml: str, timeout_s: float = 5.0) -> dict[str, Any]:
    return nexus_config(
        routing=routing_yaml,
        other={"ModelRouter": {"probe_interval_s": PROBE_S, "probe_timeout_s": timeout_s}},
    )


async def start(jp_serverapp: Any) -> None:
    """Start the extensions as a real server does once its loop runs (``ServerApp._post_start``, which
    pytest-jupyter's server never calls): NEXUS starts its probes there."""
    await jp_serverapp.extension_manager.start_all_extensions()


async def component(jp_fetch: Any, name: str) -> dict[str, Any] | None:
    status = json.loads((await jp_fetch("nexus/api/v1/status")).body)
    return next((c for c in status["components"] if c["name"] == name), None)


async def until(
    jp_fetch: Any, check: Callable[[dict[str, Any]], bool], what: str, name: str = "provider_primary"
) -> dict[str, Any]:
    """The provider's ``/status`` component once ``check`` holds (the probe runs every 0.2 s)."""
    found = None
    for _ in range(100):
        found = await component(jp_fetch, name)
        if found is not None and check(found):
            return found
        await asyncio.sleep(0.1)
    raise AssertionError(f"{what}: the component is {found}")


async def answer(jp_fetch: Any) -> tuple[dict[str, Any], float]:
    started = time.perf_counter()
    body = json.dumps({"task": "natural_language", "prompt": "Say hello.", "max_tokens": 8})
    reply = json.loads((await jp_fetch("nexus/api/v1/generate", method="POST", body=body)).body)
    return reply, time.perf_counter() - started


def route(reply: dict[str, Any]) -> list[str]:
    return [f"{s['provider']} {s['outcome']}" for s in reply["fallback_path"]]


async def primary_step(jp_fetch: Any) -> dict[str, Any]:
    models = json.loads((await jp_fetch("nexus/api/v1/models")).body)
    task = next(t for t in models["tasks"] if t["task"] == "natural_language")
    return dict(task["chain"][0])


class TestAStoppedProvider:
    @pytest.fixture
    def models(self) -> Iterator[tuple[ScriptedModelServer, ScriptedModelServer]]:
        with ScriptedModelServer(hello) as primary, ScriptedModelServer(hello) as backup:
            yield primary, backup

    @pytest.fixture
    def jp_server_config(self, nexus_config: Any, models: Any) -> dict[str, Any]:
        primary, backup = models
        return probed(nexus_config, routing(primary.url, backup.url))

    async def test_is_marked_down_skipped_without_a_try_and_back_once_it_answers(
        self, jp_fetch: Any, jp_serverapp: Any, models: Any, nexus_services: Any
    ) -> None:
        primary, backup = models
        assert await component(jp_fetch, "provider_primary") is None  # nothing probes before the start
        await start(jp_serverapp)
        up = await until(jp_fetch, lambda c: c["detail"].startswith("probe: ok"), "first probe")
        assert up["state"] == "ok" and up["detail"].endswith(" s ago") and primary.probes >= 1
        assert await component(jp_fetch, "provider_backup") is None and backup.probes == 0
        reply, _ = await answer(jp_fetch)
        assert reply["provider"] == "primary" and route(reply) == ["primary ok"]

        await asyncio.to_thread(primary.stop)
        # (a probe caught in flight by the stop may say the server hung up; the next ones are refused)
        down = await until(jp_fetch, lambda c: "connection refused" in c["detail"], "probe after the stop")
        assert down["state"] == "degraded" and down["detail"].startswith("down: connection refused (probed ")
        step = await primary_step(jp_fetch)
        assert step["state"] == "circuit_open" and step["health"]["state"] == "open"
        assert step["health"]["probe"]["ok"] is False
        assert step["health"]["probe"]["detail"] == "connection refused"
        failures = nexus_services.router.health["primary"].failures

        reply, _ = await answer(jp_fetch)
        # the backup answers and the primary was skipped, not tried: no error, no failure counted
        assert reply["provider"] == "backup" and route(reply) == ["primary circuit_open", "backup ok"]
        assert nexus_services.router.health["primary"].failures == failures
        asked = len(primary.requests)

        await asyncio.to_thread(primary.start)
        back = await until(jp_fetch, lambda c: c["state"] == "ok", "probe after the restart")
        assert back["detail"].startswith("probe: ok")
        assert (await primary_step(jp_fetch))["state"] == "usable"
        reply, _ = await answer(jp_fetch)
        assert reply["provider"] == "primary" and route(reply) == ["primary ok"]
        assert len(primary.requests) == asked + 1


@pytest.fixture
def hung_url() -> Iterator[str]:
    """A server that accepts connections and never answers: the worst kind of gone."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
    finally:
        sock.close()


class TestAHungProvider:
    @pytest.fixture
    def backup(self) -> Iterator[ScriptedModelServer]:
        with ScriptedModelServer(hello) as server:
            yield server

    @pytest.fixture
    def jp_server_config(
        self, nexus_config: Any, hung_url: str, backup: ScriptedModelServer
    ) -> dict[str, Any]:
        return probed(nexus_config, routing(hung_url, backup.url, timeout_s=60), timeout_s=1.0)

    async def test_costs_the_user_no_timeout_once_the_probe_has_marked_it(
        self, jp_fetch: Any, jp_serverapp: Any
    ) -> None:
        await start(jp_serverapp)
        down = await until(jp_fetch, lambda c: c["state"] == "degraded", "probe of the hung server")
        assert down["detail"].startswith("down: no answer in 1 s")
        reply, seconds = await answer(jp_fetch)
        assert reply["provider"] == "backup" and route(reply) == ["primary circuit_open", "backup ok"]
        assert seconds < 5  # tried, the hung server would have held the answer for the task's 60 s


def test_a_probe_verdict_moves_the_breaker() -> None:
    now = [0.0]
    health = ProviderHealth(failure_threshold=3, cooldown_s=30, clock=lambda: now[0])
    assert health.record_probe(False, "connection refused") is True
    assert health.state == "open" and not health.allow()
    now[0] += 120  # no cool-down trial for a server the probe says is gone
    assert health.state == "open" and not health.allow()
    assert health.snapshot().probe is not None and health.snapshot().last_error == "probe: connection refused"
    assert health.record_probe(False, "connection refused") is False  # still down: no change
    assert health.record_probe(True, "HTTP 200") is True
    assert health.state == "closed" and health.allow()

    for _ in range(3):  # opened by failed requests: a probe that succeeds ends the cool-down early
        health.record_failure("primary: HTTP 500")
    assert health.state == "open"
    health.record_probe(True, "HTTP 200")
    assert health.state == "half_open" and health.allow() and not health.allow()  # one trial
    health.record_success(10.0, None)
    assert health.state == "closed"


def test_nothing_runs_when_probing_is_off(make_routing: Callable[..., Any]) -> None:
    from nexus_server_ext.ai.probe import ProviderProbes
    from nexus_server_ext.ai.router import ModelRouter

    spec = {"remote": {"kind": "openai", "base_url": "http://127.0.0.1:9/v1", "api_key": "k"}}
    off = ModelRouter(make_routing(spec, [("remote", "gpt-x")]))
    assert ProviderProbes(off).targets() == {} and ProviderProbes(off).start() is False
    on = ModelRouter(make_routing(spec, [("remote", "gpt-x"), ("local", "smol")]), probe_interval_s=30)
    assert ProviderProbes(on).targets() == {"remote": 30.0}  # the local model has nothing to probe


async def test_stopping_cancels_the_loop_and_the_probes_in_flight(
    hung_url: str, make_routing: Callable[..., Any]
) -> None:
    from nexus_server_ext.ai.probe import ProviderProbes
    from nexus_server_ext.ai.router import ModelRouter

    def probing() -> list[asyncio.Task[Any]]:
        return [t for t in asyncio.all_tasks() if t.get_coro().__qualname__.startswith("ProviderProbes.")]

    spec = {"remote": {"kind": "openai", "base_url": hung_url, "api_key": "k"}}
    router = ModelRouter(make_routing(spec, [("remote", "gpt-x")]), probe_interval_s=0.05, probe_timeout_s=30)
    probes = ProviderProbes(router)
    assert probes.start()
    for _ in range(100):  # the loop, and one probe waiting on the server that never answers
        if len(probing()) == 2:
            break
        await asyncio.sleep(0.02)
    names = sorted(t.get_coro().__qualname__ for t in probing())
    assert names == ["ProviderProbes._run", "ProviderProbes.probe"]
    await probes.stop()
    assert probing() == []
    assert router.health["remote"].snapshot().probe is None  # cancelled: no verdict recorded
