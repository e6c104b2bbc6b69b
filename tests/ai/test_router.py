"""Fallback through the chain with real failures (closed port, 500, 429, a stream broken part-way),
the interaction rows that record the path, and the circuit breaker opening and recovering."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import select

from nexus_server_ext.ai.pipeline import AIPipeline
from nexus_server_ext.ai.router import ModelRouter
from nexus_server_ext.ai.types import ChatMessage, Delta, Done, NoModelAvailable, Restart
from nexus_server_ext.store import Database
from nexus_server_ext.store.models import Interaction

HELLO = [ChatMessage("user", "Say hello.")]


def remote(url: str) -> dict[str, Any]:
    return {"primary": {"kind": "openai", "base_url": f"{url}/v1", "api_key": "sk-test-secret"}}


@pytest.fixture(autouse=True)
def _helpers(make_routing: Any) -> None:
    global routing
    routing = make_routing


routing: Any = None


async def collect(router: ModelRouter, task: str = "natural_language") -> list[Any]:
    return [e async for e in router.stream(task, HELLO, max_tokens=4)]


@pytest.mark.parametrize("mode", ["closed", "500", "429", "break", "malformed"])
async def test_failure_falls_back_to_the_local_model_and_the_row_records_the_path(
    mode: str, fake_server: dict[str, Any], local_engine: Any, db: Database, unused_port: int
) -> None:
    url = f"http://127.0.0.1:{unused_port}" if mode == "closed" else fake_server["url"]
    fake_server["mode"] = mode
    router = ModelRouter(routing(remote(url), [("primary", "gpt-x"), ("local", "smol")]))
    events = await collect(router)

    done = events[-1]
    assert isinstance(done, Done)
    assert done.meta.provider == "local" and done.meta.text.strip()
    restarts = [e for e in events if isinstance(e, Restart)]
    if mode == "break":
        # the client saw the broken model's tokens, then was told to discard them, then only local tokens
        first = events.index(restarts[0])
        assert "".join(e.text for e in events[:first] if isinstance(e, Delta)) == "BROKEN TEXT "
        assert restarts[0].failed_provider == "primary" and restarts[0].next_provider == "local"
        after = "".join(e.text for e in events[first:] if isinstance(e, Delta))
        assert after == done.meta.text and "BROKEN" not in done.meta.text
    else:
        assert not restarts
    path = done.meta.fallback_path
    assert [p["provider"] for p in path] == ["primary", "local"]
    assert path[0]["outcome"] == "error" and path[1]["outcome"] == "ok"
    expected = {
        "closed": "cannot connect",
        "500": "HTTP 500",
        "429": "HTTP 429",
        "break": "ended early",
        "malformed": "malformed",
    }[mode]
    assert expected in path[0]["error"]
    assert "sk-test-secret" not in str(path) and "127.0.0.1" not in str(path)

    # the pipeline writes the same story into the interactions table
    result = await AIPipeline(router, db).generate("natural_language", "Say hello.", max_tokens=4)
    assert result.provider == "local" and result.outcome == "fallback"
    row = db.call(lambda s: s.scalar(select(Interaction).where(Interaction.id == result.interaction_id)))
    assert row.task == "natural_language" and row.provider == "local" and row.outcome == "fallback"
    assert [p["provider"] for p in row.fallback_path] == ["primary", "local"]
    assert row.fallback_path[0]["outcome"] == "error" and row.latency_ms > 0 and row.tokens_out > 0


async def test_sse_request_carries_the_key_from_configuration(fake_server: dict[str, Any]) -> None:
    router = ModelRouter(routing(remote(fake_server["url"]), [("primary", "gpt-x")]))
    events = await collect(router)
    assert isinstance(events[-1], Done) and events[-1].meta.text == "BROKEN TEXT "
    assert events[-1].meta.tokens_out == 2 and events[-1].meta.tokens_in == 3
    assert fake_server["last_auth"] == "Bearer sk-test-secret"
    assert fake_server["last_body"]["model"] == "gpt-x" and fake_server["last_body"]["stream"] is True


async def test_circuit_breaker_opens_then_recovers(fake_server: dict[str, Any]) -> None:
    spec = remote(fake_server["url"])
    spec["primary"].update(failure_threshold=2, cooldown_s=0.5)
    spec["backup"] = {"kind": "openai", "base_url": f"{fake_server['url']}/v1", "api_key": "k2"}
    router = ModelRouter(routing(spec, [("primary", "a"), ("backup", "b")]))
    fake_server["mode"] = "500"
    for _ in range(2):  # both fail: primary errors twice, which opens its breaker
        with pytest.raises(NoModelAvailable):
            await collect(router)
    assert router.health["primary"].state == "open"
    calls = fake_server["calls"]
    fake_server["mode"] = "ok"
    events = await collect(router)  # primary is skipped without a request; backup answers
    assert events[-1].meta.provider == "backup"
    assert events[-1].meta.fallback_path[0] == {
        "provider": "primary",
        "model": "a",
        "outcome": "circuit_open",
    }
    assert fake_server["calls"] == calls + 1
    await asyncio.sleep(0.6)
    assert router.health["primary"].state == "half_open"
    events = await collect(router)  # the trial request succeeds and closes the breaker
    assert events[-1].meta.provider == "primary"
    assert router.health["primary"].state == "closed"
    snap = router.health["primary"].snapshot()
    assert snap.failures == 2 and snap.successes == 1 and snap.latency_ms is not None


async def test_timeout_moves_to_the_next_model(local_engine: Any) -> None:
    # a server that accepts the connection and never answers
    writers: list[asyncio.StreamWriter] = []

    async def hang(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)

    server = await asyncio.start_server(hang, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        spec = remote(f"http://127.0.0.1:{port}")
        spec["primary"]["timeout_s"] = 0.5
        router = ModelRouter(routing(spec, [("primary", "x"), ("local", "smol")]))
        events = await collect(router)
    finally:
        for writer in writers:
            writer.close()
        server.close()
        await server.wait_closed()
    assert events[-1].meta.provider == "local"
    assert "timed out" in events[-1].meta.fallback_path[0]["error"]


async def test_unconfigured_and_blocked_steps_are_skipped(local_engine: Any) -> None:
    spec = {
        "nokey": {"kind": "openai", "base_url": "http://127.0.0.1:9/v1", "api_key": ""},
        "blocked": {"kind": "openai", "base_url": "http://127.0.0.1:9/v1", "api_key": "k"},
    }
    cfg = routing(spec, [("nokey", "a"), ("blocked", "gpt-4o"), ("local", "smol")])
    cfg.policy = {"block_models": ["gpt-4*"]}
    events = await collect(ModelRouter(cfg))
    assert [(p["provider"], p["outcome"]) for p in events[-1].meta.fallback_path] == [
        ("nokey", "unconfigured"),
        ("blocked", "blocked"),
        ("local", "ok"),
    ]
