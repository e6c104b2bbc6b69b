"""What every gateway handler shares: the ``Gateway`` (router, auth, quotas, model ids) and the handler base.

Its own module so that the generation handlers (``app.py``) and the admin
handlers (``admin.py``) both build on it without importing each other.
"""

from __future__ import annotations

import json
import time
from typing import Any

from tornado import web

from ..ai.router import ModelRouter
from ..ai.routing import ChainStep
from .auth import Caller, GatewayAuth
from .errors import GatewayError
from .metrics import record_refusal, record_response
from .quotas import MemoryUsageStore, QuotaPolicy, UsageStore

MAX_BODY = 1024 * 1024


class Gateway:
    """What the handlers share: the router, who may call, their quotas, and the model-id table."""

    def __init__(
        self,
        router: ModelRouter,
        auth: GatewayAuth,
        usage: UsageStore | None = None,
        self_provider: str = "gateway",
    ) -> None:
        self.router = router
        self.auth = auth
        self.usage: UsageStore = usage or MemoryUsageStore(QuotaPolicy(requests_per_minute=0))
        self.exclude = {self_provider}
        self.created = int(time.time())
        self.llama_server: Any = None  # LlamaServer, when the gateway serves GGUF models through it
        local = [n for n, p in router.providers.items() if p.kind == "local"]
        self.direct: dict[str, ChainStep] = {}
        if local:
            self.direct["nexus-local"] = ChainStep(local[0], "nexus-local")
            for task in router.routing.tasks:
                for step in router.routing.chain(task):
                    if step.provider in local and task != "embeddings":
                        self.direct.setdefault(step.model, step)

    def serving(self) -> dict[str, Any]:
        """How local GGUF models are served (llama-server's parallel slots, or in-process) and why."""
        if self.llama_server is None:
            return {"mode": "in-process", "message": "in-process engine, one sequence at a time"}
        return dict(self.llama_server.status())

    def model_ids(self) -> list[str]:
        tasks = [t for t in self.router.routing.tasks if t != "embeddings"]
        return [*self.direct, *tasks]

    def route(self, model: str, default_task: str) -> tuple[str, list[ChainStep] | None]:
        if model in self.direct:
            return default_task, [self.direct[model]]
        if model in self.router.routing.tasks and model != "embeddings":
            return model, None
        raise GatewayError(404, f"The model '{model}' does not exist here.", code="model_not_found")


class GatewayHandler(web.RequestHandler):
    gateway: Gateway
    caller: Caller

    def initialize(self, gateway: Gateway) -> None:
        self.gateway = gateway

    def check_xsrf_cookie(self) -> None:  # bearer-token API, no cookies
        return None

    async def prepare(self) -> None:
        try:
            self.caller = await self.gateway.auth.identify(self.request)
        except GatewayError as err:
            self.fail(err)

    async def admit(self, quota: bool = True) -> int | None:
        """Apply the caller's rate limit and token quota (429 + Retry-After); the tokens left, if capped.
        ``quota=False``: the rate limit only (embeddings)."""
        decision = await self.gateway.usage.admit(self.caller.name, quota)
        if decision.allowed:
            return decision.tokens_left
        header = decision.retry_after_header
        record_refusal(decision.reason)
        if decision.reason == "quota":
            message = f"Your token quota is used up; it renews in {header} s."
            code = "quota_exceeded"
        else:
            message = f"Too many requests; try again in {header} s."
            code = "rate_limited"
        raise GatewayError(429, message, "rate_limit_error", code, headers={"Retry-After": header})

    def on_finish(self) -> None:
        record_response(type(self).__name__, self.get_status())

    async def record(self, model: str, tokens_in: int, tokens_out: int, quota: bool = True) -> None:
        await self.gateway.usage.record(self.caller.name, model, tokens_in, tokens_out, quota)

    def fail(self, err: GatewayError) -> None:
        self.set_status(err.status)
        for name, value in err.headers.items():
            self.set_header(name, value)
        self.set_header("Content-Type", "application/json")
        self.finish({"error": {"message": err.message, "type": err.kind, "param": None, "code": err.code}})

    def body(self) -> dict[str, Any]:
        if len(self.request.body) > MAX_BODY:
            raise GatewayError(413, "The request body is too large.")
        try:
            data = json.loads(self.request.body or b"{}")
        except ValueError:
            raise GatewayError(400, "The request body is not valid JSON.") from None
        if not isinstance(data, dict):
            raise GatewayError(400, "The request body must be a JSON object.")
        return data

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        self.fail(GatewayError(status_code, "The gateway hit an unexpected problem.", "server_error"))
