"""``/secrets``: provider API keys per user and server-wide, never shown, stored encrypted, and the
keys the providers really send (a local stand-in for the paid API records them)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from jupyter_server.auth.authorizer import Authorizer
from sqlalchemy import Text, select
from support.identity import HeaderIdentityProvider
from tornado import web
from tornado.httpserver import HTTPServer
from tornado.testing import bind_unused_port

from nexus_server_ext.store.models import ProviderSecret

ALICE = {"Authorization": "token user-alice"}  # an administrator
BOB = {"Authorization": "token user-bob"}
KEYS = ("sk-env-0000", "sk-server-1111", "sk-bob-2222", "sk-bob-3333", "sk-claude-4444")


class AliceAdministers(Authorizer):
    """Everyone may use NEXUS; only alice may change server-wide settings (``nexus:admin``)."""

    def is_authorized(self, handler: Any, user: Any, action: str, resource: str) -> bool:
        return resource != "nexus:admin" or user.username == "alice"


class RecordingOpenAI(web.RequestHandler):
    """An OpenAI-compatible endpoint (stand-in for the paid API) that records the key it was sent."""

    def initialize(self, seen: list[str]) -> None:
        self.seen = seen

    def check_xsrf_cookie(self) -> None:
        return None

    async def post(self) -> None:
        self.seen.append(self.request.headers.get("Authorization", ""))
        self.set_header("Content-Type", "text/event-stream")
        chunk = {"choices": [{"index": 0, "delta": {"content": "Hello"}, "finish_reason": "stop"}]}
        self.write(f"data: {json.dumps(chunk)}\n\n")
        usage = {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}
        self.write(f"data: {json.dumps({'choices': [], 'usage': usage})}\n\n")
        self.finish("data: [DONE]\n\n")


@pytest.fixture
def fake_openai(jp_asyncio_loop: Any) -> Iterator[tuple[str, list[str]]]:
    seen: list[str] = []
    sock, port = bind_unused_port()
    server = HTTPServer(web.Application([(r"/v1/chat/completions", RecordingOpenAI, {"seen": seen})]))
    server.add_sockets([sock])
    yield f"http://127.0.0.1:{port}/v1", seen
    server.stop()


@pytest.fixture
def jp_server_config(
    nexus_config: Any, fake_openai: tuple[str, list[str]], monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any]:
    monkeypatch.setenv("NEXUS_TEST_OPENAI_KEY", KEYS[0])  # the routing file's key, from the environment
    monkeypatch.delenv("NEXUS_TEST_CLAUDE_KEY", raising=False)
    routing = f"""
providers:
  local: {{kind: local, model: "bundled:SmolLM2-135M-Instruct"}}
  openai: {{kind: openai, base_url: "{fake_openai[0]}", api_key: "${{NEXUS_TEST_OPENAI_KEY:-}}"}}
  claude: {{kind: anthropic, base_url: "http://127.0.0.1:9", api_key: "${{NEXUS_TEST_CLAUDE_KEY:-}}"}}
tasks:
  natural_language:
    chain:
      - {{provider: openai, model: gpt-test}}
      - {{provider: claude, model: c}}
      - {{provider: local, model: s}}
    limits: {{timeout_s: 60, max_tokens: 4}}
"""
    return nexus_config(
        routing=routing,
        server={"identity_provider_class": HeaderIdentityProvider, "authorizer_class": AliceAdministers},
    )


class Client:
    """Calls the API and keeps every response body, to check none ever contains a key."""

    def __init__(self, jp_fetch: Any) -> None:
        self.jp_fetch = jp_fetch
        self.bodies: list[bytes] = []

    async def __call__(self, verb: str, path: str, who: dict[str, str], body: Any = None) -> tuple[int, Any]:
        kwargs: dict[str, Any] = {
            "method": verb,
            "headers": who,
            "raise_error": False,
            "request_timeout": 120,
        }
        if body is not None:
            kwargs["body"] = body if isinstance(body, str) else json.dumps(body)
        if verb == "DELETE":
            kwargs["allow_nonstandard_methods"] = True
        r = await self.jp_fetch(f"nexus/api/v1/{path}", **kwargs)
        self.bodies.append(r.body)
        return r.code, json.loads(r.body) if r.body else None

    async def key_used(self, who: dict[str, str], seen: list[str]) -> str:
        code, reply = await self("POST", "generate", who, {"prompt": "Say hi.", "task": "natural_language"})
        assert code == 200 and reply["provider"] == "openai", reply
        return seen[-1].removeprefix("Bearer ")

    async def state(self, who: dict[str, str], provider: str) -> dict[str, Any]:
        code, reply = await self("GET", "secrets", who)
        assert code == 200
        return next(p for p in reply["providers"] if p["provider"] == provider)


async def test_keys_per_user_and_server_wide_replace_the_environment_key_and_are_never_shown(
    jp_fetch: Any, nexus_services: Any, fake_openai: tuple[str, list[str]]
) -> None:
    seen = fake_openai[1]
    api = Client(jp_fetch)
    listed = await api.state(ALICE, "openai")
    assert listed["environment_key_set"] and listed["in_use"] == "environment"
    assert not listed["user_key_set"] and not listed["server_key_set"]
    listing = (await api("GET", "secrets", ALICE))[1]["providers"]
    assert {p["provider"] for p in listing} == {"openai", "claude"}
    assert await api.key_used(ALICE, seen) == KEYS[0]  # the environment variable keeps working

    code, reply = await api("PUT", "secrets/server/openai", ALICE, {"api_key": KEYS[1]})
    assert code == 200 and reply["scope"] == "server" and reply["set"] and reply["updated_at"]
    assert set(reply) == {"provider", "scope", "set", "updated_at"}
    assert await api.key_used(BOB, seen) == KEYS[1]  # the server-wide key wins over the environment's

    assert (await api("PUT", "secrets/user/openai", BOB, {"api_key": KEYS[2]}))[0] == 200
    assert await api.key_used(BOB, seen) == KEYS[2]  # bob's own key, for bob only
    assert await api.key_used(ALICE, seen) == KEYS[1]
    bob = await api.state(BOB, "openai")
    assert bob["user_key_set"] and bob["server_key_set"] and bob["in_use"] == "user"
    assert (await api.state(ALICE, "openai"))["in_use"] == "server"

    assert (await api("PUT", "secrets/user/openai", BOB, {"api_key": KEYS[3]}))[0] == 200  # replace
    assert await api.key_used(BOB, seen) == KEYS[3]

    # a key configures a provider the environment left without one, for its owner only
    assert (await api("PUT", "secrets/user/claude", BOB, {"api_key": KEYS[4]}))[0] == 200
    chains = {}
    for name, who in (("alice", ALICE), ("bob", BOB)):
        tasks = (await api("GET", "models", who))[1]["tasks"]
        chain = next(t for t in tasks if t["task"] == "natural_language")["chain"]
        chains[name] = {step["provider"]: step["state"] for step in chain}
    assert chains["bob"]["claude"] == "usable" and chains["alice"]["claude"] == "unconfigured"

    raw = nexus_services.database.call(
        lambda s: list(s.execute(select(ProviderSecret.value.cast(Text))).scalars())
    )
    assert len(raw) == 3 and all(v.startswith("nxe1:") for v in raw)
    assert not any(k in v for v in raw for k in KEYS)

    code, reply = await api("PUT", "secrets/server/openai", BOB, {"api_key": "sk-bob-takeover"})
    assert code == 403 and set(reply) == {"error", "message", "request_id"}
    assert await api.key_used(ALICE, seen) == KEYS[1]

    code, _ = await api("DELETE", "secrets/user/openai", BOB)
    assert code == 204 and await api.key_used(BOB, seen) == KEYS[1]
    code, reply = await api("DELETE", "secrets/user/openai", BOB)
    assert code == 404 and "No user key" in reply["message"]
    assert (await api("DELETE", "secrets/server/openai", ALICE))[0] == 204
    assert await api.key_used(BOB, seen) == KEYS[0]  # back to the environment's key
    assert (await api.state(BOB, "openai"))["in_use"] == "environment"

    leaked = [k for body in api.bodies for k in (*KEYS, "sk-bob-takeover") if k.encode() in body]
    assert not leaked


@pytest.mark.parametrize(
    ("path", "body", "status", "says"),
    [
        ("secrets/user/nosuch", {"api_key": "sk-x"}, 404, "no provider of this name"),
        ("secrets/user/local", {"api_key": "sk-x"}, 400, "takes no API key"),
        ("secrets/user/openai", {"api_key": ""}, 400, "api_key"),
        ("secrets/user/openai", {"api_key": "sk has spaces"}, 400, "api_key"),
        ("secrets/user/openai", {"api_key": "sk-line\r\nX-Evil: 1"}, 400, "api_key"),
        ("secrets/user/openai", {"api_key": 12345}, 400, "api_key"),
        ("secrets/user/openai", {"key": "sk-x"}, 400, "api_key"),
        ("secrets/user/openai", {"api_key": "s" * 5000}, 400, "api_key"),
        ("secrets/user/openai", "[" * 1000, 400, "nested too deeply"),
        ("secrets/user/openai", "[" * 100_000, 413, "at most 8.0 KB"),
        ("secrets/user/open%2Fai", {"api_key": "sk-x"}, 404, "no NEXUS endpoint"),
    ],
)
async def test_bad_key_requests_get_a_clear_4xx_that_never_repeats_the_key(
    jp_fetch: Any, path: str, body: Any, status: int, says: str
) -> None:
    code, reply = await Client(jp_fetch)("PUT", path, ALICE, body)
    assert code == status and says in reply["message"], reply
    if isinstance(body, dict) and isinstance(body.get("api_key"), str) and len(body["api_key"]) > 2:
        assert body["api_key"] not in json.dumps(reply)
