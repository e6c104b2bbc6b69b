"""The anthropic provider against a local server speaking the Messages streaming protocol."""

from __future__ import annotations

from typing import Any

from nexus_server_ext.ai.router import ModelRouter
from nexus_server_ext.ai.types import ChatMessage, Delta, Done


def spec(url: str) -> dict[str, Any]:
    return {"claude": {"kind": "anthropic", "base_url": url, "api_key": "sk-ant-secret"}}


async def test_streams_text_and_usage(fake_server: dict[str, Any], make_routing: Any) -> None:
    router = ModelRouter(make_routing(spec(fake_server["url"]), [("claude", "claude-x")]))
    messages = [ChatMessage("system", "Be terse."), ChatMessage("user", "add"), ChatMessage("user", "two")]
    events = [e async for e in router.stream("natural_language", messages, max_tokens=20)]
    assert "".join(e.text for e in events if isinstance(e, Delta)) == "def add(a, b):\n    return a + b"
    meta = events[-1].meta
    assert isinstance(events[-1], Done) and meta.tokens_in == 11 and meta.tokens_out == 9
    headers = {k.lower(): v for k, v in fake_server["last_headers"].items()}
    assert headers["x-api-key"] == "sk-ant-secret" and headers["anthropic-version"] == "2023-06-01"
    body = fake_server["last_body"]
    assert body["system"] == "Be terse." and body["stream"] is True and body["model"] == "claude-x"
    assert body["messages"] == [
        {"role": "user", "content": "add\n\ntwo"}
    ]  # merged: the API needs alternation


async def test_overload_and_missing_message_stop_fall_back(
    fake_server: dict[str, Any], make_routing: Any
) -> None:
    providers = {
        **spec(fake_server["url"]),
        "backup": {"kind": "openai", "base_url": fake_server["url"] + "/v1", "api_key": "k"},
    }
    for mode, reason in (("500", "HTTP 529"), ("break", "ended early")):
        fake_server["anthropic_mode"] = mode
        router = ModelRouter(make_routing(providers, [("claude", "c"), ("backup", "b")]))
        events = [e async for e in router.stream("natural_language", [ChatMessage("user", "hi")])]
        assert events[-1].meta.provider == "backup"
        assert reason in events[-1].meta.fallback_path[0]["error"]
        fake_server["anthropic_mode"] = "ok"
