"""``/v1/status`` and ``/v1/usage``: what the gateway serves, and who spent what.

Status is for any authenticated caller (operators and user servers check which
models are loaded, how often they were loaded, and the quota in force). The
usage ledger holds counts only (requests and tokens per user and model), never
prompts or answers; the whole ledger needs a usage-admin scope, while
``/v1/usage/me`` shows a caller their own line.
"""

from __future__ import annotations

import os
import time

from .base import Gateway, GatewayHandler
from .errors import GatewayError


def _engines(gateway: Gateway) -> list[dict[str, object]]:
    """The local engines this process created (none loaded until a request needs one); an engine the
    gateway serves through llama-server is shown as that."""
    import sys

    engine_module = sys.modules.get("nexus_server_ext.ai.engines")
    if engine_module is None:  # nothing imported the engine yet, so nothing was loaded
        return []
    served = gateway.llama_server.engines if gateway.llama_server is not None else {}
    return [served.get(id(e), e).describe() for e in engine_module.loaded_engines()]


class StatusHandler(GatewayHandler):
    async def get(self) -> None:
        g, policy = self.gateway, self.gateway.usage.policy
        self.finish(
            {
                "object": "nexus.gateway.status",
                "pid": os.getpid(),
                "uptime_s": round(time.time() - g.created, 1),
                "auth": g.auth.mode,
                "caller": {"name": self.caller.name, "kind": self.caller.kind},
                "models": g.model_ids(),
                "engines": _engines(g),
                "serving": g.serving(),
                "quota": {
                    "backend": g.usage.backend,
                    "requests_per_minute": policy.requests_per_minute,
                    "burst": policy.burst,
                    "tokens_per_window": policy.tokens_per_window,
                    "window_s": policy.window_s,
                },
            }
        )


class UsageHandler(GatewayHandler):
    async def get(self, who: str | None = None) -> None:
        policy = self.gateway.usage.policy
        if who == "me":
            rows = await self.gateway.usage.ledger(self.caller.name)
        else:
            if not self.caller.usage_admin:
                return self.fail(
                    GatewayError(
                        403,
                        "Reading the usage ledger needs an admin scope "
                        "(custom:nexus-gateway:usage or admin:users); /v1/usage/me shows your own.",
                        code="forbidden",
                    )
                )
            user = self.get_query_argument("user", None)
            rows = await self.gateway.usage.ledger(user or None)
        self.finish({"object": "list", "data": [r.as_dict(policy) for r in rows]})
