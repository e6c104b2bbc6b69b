"""A real JupyterHub (configurable-http-proxy, local spawner) from ``deploy/jupyterhub``, started once.

alice, bob and carol get servers with NEXUS; every model call goes to the one
gateway service, which checks Hub tokens and keeps per-user quotas in Redis.
The store is one PostgreSQL schema shared by every user server, so isolation
is proven on shared tables, not on separate files.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "deploy" / "jupyterhub" / "jupyterhub_config.py"
REDIS_URL = os.environ.get("NEXUS_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
TOKEN_QUOTA = 700
USERS = ("alice", "bob", "carol")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Hub:
    url: str
    admin: httpx.Client
    tokens: dict[str, str]
    log: Path

    def client(self, user: str | None) -> httpx.Client:
        headers = {"Authorization": f"token {self.tokens[user]}"} if user else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=300)

    def gateway(self, path: str) -> str:
        return f"/services/nexus-gateway/v1/{path}"


def wait_for(check: Any, what: str, log: Path, timeout: float = 90) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            result = check()
        except httpx.HTTPError:
            result = None
        if result:
            return result
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}; hub log tail:\n{log.read_text()[-4000:]}")


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory, module_postgres_url: str) -> Iterator[Hub]:
    if not shutil.which("configurable-http-proxy"):
        pytest.fail("configurable-http-proxy is missing: npm install -g configurable-http-proxy")
    state = tmp_path_factory.mktemp("hub")
    database_url = module_postgres_url
    admin_token = secrets.token_hex(16)
    port = free_port()
    env = {
        **os.environ,
        "NEXUS_HUB_AUTHENTICATOR": "dummy",
        "NEXUS_HUB_PORT": str(port),
        "NEXUS_HUB_API_PORT": str(free_port()),
        "NEXUS_PROXY_API_PORT": str(free_port()),
        "NEXUS_GATEWAY_PORT": str(free_port()),
        "NEXUS_HUB_STATE_DIR": str(state),
        "NEXUS_HUB_ADMIN_SERVICE_TOKEN": admin_token,
        "NEXUS_DATABASE_URL": database_url,
        "NEXUS_REDIS_URL": REDIS_URL,
        "NEXUS_REDIS_PREFIX": f"nexus-test-{uuid.uuid4().hex[:12]}",
        "NEXUS_GATEWAY_TOKEN_QUOTA": str(TOKEN_QUOTA),
        "CONFIGPROXY_AUTH_TOKEN": secrets.token_hex(16),
    }
    log = state / "hub.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "jupyterhub", "-f", str(CONFIG)],
            cwd=state,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    admin = httpx.Client(base_url=url, headers={"Authorization": f"token {admin_token}"}, timeout=30)
    try:
        wait_for(lambda: admin.get("/hub/api/").status_code == 200, "the hub", log)
        assert admin.post("/hub/api/users", json={"usernames": list(USERS)}).status_code == 201
        tokens = {}
        for user in USERS:
            r = admin.post(f"/hub/api/users/{user}/tokens", json={"note": "test"})
            assert r.status_code == 201, r.text
            tokens[user] = r.json()["token"]
            assert admin.post(f"/hub/api/users/{user}/server").status_code in (201, 202)
        for user in USERS:
            wait_for(
                lambda u=user: admin.get(f"/hub/api/users/{u}").json()["servers"].get("", {}).get("ready"),
                f"{user}'s server",
                log,
            )
        # The Hub starts the gateway with --preload: wait for the model (slow on a busy CPU).
        wait_for(
            lambda: [
                e
                for e in admin.get("/services/nexus-gateway/v1/status").json()["engines"]
                if e["state"] == "loaded"
            ],
            "the gateway's model",
            log,
            timeout=300,
        )
        yield Hub(url, admin, tokens, log)
    finally:
        admin.close()
        proc.send_signal(signal.SIGTERM)  # the Hub stops the user servers, the gateway and the proxy
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        import redis

        r = redis.Redis.from_url(REDIS_URL)
        keys = list(r.scan_iter(f"{env['NEXUS_REDIS_PREFIX']}:*"))
        if keys:
            r.delete(*keys)
        r.close()


def nexus(hub: Hub, user: str, verb: str, path: str, body: Any = None, as_user: str | None = None) -> Any:
    with hub.client(as_user or user) as c:
        return c.request(verb, f"/user/{user}/nexus/api/v1/{path}", json=body)


def test_alice_and_bob_chat_through_the_one_gateway(hub: Hub) -> None:
    prompt = "Write a Python function that returns the sum of a list of numbers."
    for user in ("alice", "bob"):
        r = nexus(
            hub, user, "POST", "generate", {"task": "code_generation", "prompt": prompt, "max_tokens": 64}
        )
        assert r.status_code == 200, r.text
        reply = r.json()
        assert reply["provider"] == "gateway" and reply["outcome"] in ("ok", "invalid")
        assert reply["tokens_out"] > 0 and (reply["code"] or reply["explanation"]).strip()
    with hub.client("alice") as c:
        status = c.get(hub.gateway("status")).json()
    [engine] = status["engines"]
    assert engine["state"] == "loaded" and engine["loads"] == 1, (
        "the model must be loaded once, in the gateway"
    )
    assert status["auth"] == "hub" and status["quota"]["backend"] == "redis"
    for user in ("alice", "bob"):  # and never in a user server
        components = {c["name"]: c for c in nexus(hub, user, "GET", "status").json()["components"]}
        assert "not loaded" in components["local_model"]["detail"]


def test_gateway_refuses_callers_without_a_valid_hub_token(hub: Hub) -> None:
    body = {"model": "completion", "prompt": "def f(", "max_tokens": 4}
    with hub.client(None) as anonymous:
        assert anonymous.post(hub.gateway("completions"), json=body).status_code == 403
        bad = anonymous.post(
            hub.gateway("completions"), json=body, headers={"Authorization": "Bearer not-a-hub-token"}
        )
        assert bad.status_code == 403 and bad.json()["error"]["code"] == "forbidden"
        in_url = anonymous.post(hub.gateway("completions") + f"?token={hub.tokens['alice']}", json=body)
        assert in_url.status_code == 403 and in_url.json()["error"]["code"] == "token_in_url"
    # A real token of alice's, but without the gateway scope.
    r = hub.admin.post("/hub/api/users/alice/tokens", json={"scopes": ["read:users!user=alice"]})
    narrow = r.json()["token"]
    with httpx.Client(base_url=hub.url, headers={"Authorization": f"Bearer {narrow}"}) as c:
        r = c.post(hub.gateway("completions"), json=body)
    assert r.status_code == 403 and "access:services!service=nexus-gateway" in r.json()["error"]["message"]


def test_exceeding_the_token_quota_is_429_with_retry_after(hub: Hub) -> None:
    # Prompt tokens count too: a long prompt and a one-token answer spend the quota quickly.
    long = "Explain this code. " + "total = sum(values) / len(values)\n" * 40
    body = {"model": "natural_language", "messages": [{"role": "user", "content": long}], "max_tokens": 1}
    with hub.client("carol") as c:
        for _ in range(8):
            r = c.post(hub.gateway("chat/completions"), json=body)
            if r.status_code != 200:
                break
        assert r.status_code == 429, r.text
        assert r.json()["error"]["code"] == "quota_exceeded"
        assert 0 < int(r.headers["Retry-After"]) <= 86400
        [mine] = c.get(hub.gateway("usage/me")).json()["data"]
    assert mine["user"] == "carol" and mine["window_tokens"] >= TOKEN_QUOTA
    # alice is untouched by carol's spending.
    with hub.client("alice") as c:
        r = c.post(
            hub.gateway("chat/completions"), json={**body, "messages": [{"role": "user", "content": "hi"}]}
        )
    assert r.status_code == 200


def test_usage_ledger_is_for_admins_and_holds_counts_not_content(hub: Hub) -> None:
    with hub.client("alice") as c:
        assert c.get(hub.gateway("usage")).status_code == 403
    r = hub.admin.get(hub.gateway("usage"))
    assert r.status_code == 200
    rows = {row["user"]: row for row in r.json()["data"]}
    assert {"alice", "bob", "carol"} <= set(rows)
    assert rows["alice"]["requests"] >= 1 and rows["alice"]["tokens_out"] >= 1
    assert "sum of a list" not in r.text, "the ledger must never hold prompts"
    only_bob = hub.admin.get(hub.gateway("usage"), params={"user": "bob"}).json()["data"]
    assert [row["user"] for row in only_bob] == ["bob"]


def openapi_calls(hub: Hub) -> list[tuple[str, str]]:
    spec = nexus(hub, "alice", "GET", "openapi.json").json()
    calls = []
    for path, verbs in spec["paths"].items():
        if "/nexus/api/v1/" not in path:  # /nexus/mcp speaks MCP (tests/mcp) on the same server's data
            continue
        for verb in verbs:
            if verb in ("get", "post", "put", "patch", "delete"):
                calls.append((verb.upper(), path[path.index("/nexus/api/v1/") + len("/nexus/api/v1/") :]))
    return calls


def test_alice_cannot_read_or_change_bobs_data_through_any_endpoint(hub: Hub) -> None:
    secret = f"bob-private-{uuid.uuid4().hex[:8]}"
    r = nexus(hub, "bob", "POST", "conversations", {"title": secret})
    assert r.status_code == 201
    bob_conversation = r.json()["id"]
    calls = openapi_calls(hub)
    assert len(calls) >= 8
    for verb, template in calls:
        path = template.replace("{conversation_id}", bob_conversation)
        for _ in range(path.count("{")):  # ids of areas added later: aim at bob's anyway
            start, end = path.index("{"), path.index("}")
            path = path[:start] + bob_conversation + path[end + 1 :]
        body = {"title": "hijacked"} if verb in ("POST", "PATCH", "PUT") else None
        # alice on her own server, aiming at bob's ids in the shared database:
        mine = nexus(hub, "alice", verb, path, body)
        assert secret not in mine.text, f"{verb} {path} leaked bob's data to alice"
        assert mine.status_code < 500, f"{verb} {path}: {mine.status_code} {mine.text[:300]}"
        # alice on bob's server: the Hub refuses before NEXUS sees the request.
        theirs = nexus(hub, "bob", verb, path, body, as_user="alice")
        assert theirs.status_code == 403 and secret not in theirs.text, f"{verb} {path} on bob's server"
    detail = nexus(hub, "bob", "GET", f"conversations/{bob_conversation}")
    assert detail.status_code == 200 and detail.json()["title"] == secret, "bob's data changed"
    listed = nexus(hub, "alice", "GET", "conversations").json()["conversations"]
    assert all(c["title"] != secret for c in listed)
    assert json.dumps(listed).count(bob_conversation) == 0
