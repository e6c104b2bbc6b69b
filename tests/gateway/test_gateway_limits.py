"""The gateway over real HTTP in shared-token mode: URL tokens refused, 429 + Retry-After, the ledger.

The routing file's only provider is an OpenAI-compatible server that is not
running, so no model is loaded: an admitted request ends in 503, which is
enough to prove admission happens (and is counted) before generation.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

from nexus_server_ext.ai.router import ModelRouter
from nexus_server_ext.ai.routing import load_routing
from nexus_server_ext.gateway import make_app
from nexus_server_ext.gateway.quotas import MemoryUsageStore, QuotaPolicy

TOKEN = "s3cret-gateway-token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@asynccontextmanager
async def running_gateway(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    dead = free_port()
    routing = tmp_path / "routing.yaml"
    routing.write_text(
        f"""
providers:
  remote: {{kind: openai, base_url: "http://127.0.0.1:{dead}/v1", api_key: k}}
tasks:
  natural_language:
    chain: [{{provider: remote, model: m}}]
"""
    )
    router = ModelRouter(load_routing(str(routing)))
    usage = MemoryUsageStore(QuotaPolicy(requests_per_minute=6, burst=2))
    port = free_port()
    server = make_app(router, TOKEN, usage=usage, prefix="/services/nexus-gateway/").listen(port, "127.0.0.1")
    headers = {"Authorization": f"Bearer {TOKEN}"}
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=headers) as client:
            yield client
    finally:
        server.stop()
        await router.aclose()


CHAT: dict[str, Any] = {"model": "natural_language", "messages": [{"role": "user", "content": "hi"}]}


async def test_wrong_or_missing_token_is_401_and_url_tokens_are_refused(tmp_path: Path) -> None:
    async with running_gateway(tmp_path) as gateway:
        r = await gateway.get("/v1/models", headers={"Authorization": ""})
        assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"
        r = await gateway.get("/v1/models", headers={"Authorization": "Bearer nope"})
        assert r.status_code == 401
        r = await gateway.get(f"/v1/models?token={TOKEN}", headers={"Authorization": ""})
        assert r.status_code == 403 and r.json()["error"]["code"] == "token_in_url"
        r = await gateway.get(f"/v1/models?api_key={TOKEN}")  # refused even alongside a good header
        assert r.status_code == 403


async def test_rate_limit_is_429_with_retry_after_before_any_model_work(tmp_path: Path) -> None:
    async with running_gateway(tmp_path) as gateway:
        codes = [(await gateway.post("/v1/chat/completions", json=CHAT)).status_code for _ in range(2)]
        assert codes == [503, 503]  # admitted; the (absent) model then fails
        r = await gateway.post("/services/nexus-gateway/v1/chat/completions", json=CHAT)
        assert r.status_code == 429
        assert r.json()["error"]["code"] == "rate_limited" and 5 <= int(r.headers["Retry-After"]) <= 10
        r = await gateway.post("/v1/chat/completions", json={"model": "natural_language"})
        assert r.status_code == 400, "validation comes before the rate limit"


async def test_status_and_ledger(tmp_path: Path) -> None:
    async with running_gateway(tmp_path) as gateway:
        status = (await gateway.get("/v1/status")).json()
        assert status["auth"] == "token" and all("loads" in e for e in status["engines"])
        assert status["quota"] == {
            "backend": "memory",
            "requests_per_minute": 6,
            "burst": 2,
            "tokens_per_window": 0,
            "window_s": 86400,
        }
        assert (await gateway.get("/v1/usage")).json() == {"object": "list", "data": []}
        assert (await gateway.get("/services/nexus-gateway/v1/usage/me")).status_code == 200
        root = await gateway.get("/services/nexus-gateway/", headers={"Authorization": ""})
        assert root.json() == {"name": "nexus-gateway", "api": "/services/nexus-gateway/v1"}
