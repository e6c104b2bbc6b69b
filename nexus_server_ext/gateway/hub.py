"""Hub authentication for the gateway: every request's bearer token is checked with JupyterHub.

Run as a Hub service (``c.JupyterHub.services``), the gateway gets
``JUPYTERHUB_API_TOKEN``/``JUPYTERHUB_API_URL`` from the Hub and asks it who
owns each caller's token (``HubAuth.user_for_token``, cached briefly). The
token must carry ``access:services!service=nexus-gateway``: user servers get it
through ``Spawner.server_token_scopes`` (see ``deploy/jupyterhub``). Usage
queries need one of ``usage_admin_scopes`` (by default the custom scope
``custom:nexus-gateway:usage`` or unfiltered ``admin:users``), so the ledger is
visible to admins but a user's prompts never are: the gateway keeps none.

Only this module imports ``jupyterhub``; a gateway started without ``--hub``
never needs it installed.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from tornado.httputil import HTTPServerRequest

from .auth import Caller, bearer_token, refuse_url_credentials
from .errors import GatewayError

SERVICE_NAME = "nexus-gateway"
USAGE_SCOPE = "custom:nexus-gateway:usage"
DEFAULT_USAGE_ADMIN_SCOPES = (USAGE_SCOPE, "admin:users")


def access_scope(service_name: str) -> str:
    return f"access:services!service={service_name}"


class HubGatewayAuth:
    """Identify callers through the Hub API; 403 for a missing, unknown or under-scoped token."""

    mode = "hub"

    def __init__(
        self,
        service_name: str = "",
        usage_admin_scopes: Iterable[str] = DEFAULT_USAGE_ADMIN_SCOPES,
        hub_auth: Any = None,
        cache_max_age: int = 60,
    ) -> None:
        from jupyterhub.services.auth import HubAuth

        self.service_name = service_name or os.environ.get("JUPYTERHUB_SERVICE_NAME") or SERVICE_NAME
        self.access_scopes = {access_scope(self.service_name)}
        self.usage_admin_scopes = set(usage_admin_scopes)
        self.hub_auth = hub_auth or HubAuth(
            access_scopes=self.access_scopes, cache_max_age=cache_max_age, allow_token_in_url=False
        )
        if not self.hub_auth.api_token:
            raise ValueError(
                "Hub authentication needs JUPYTERHUB_API_TOKEN (set by the Hub for a service it manages, "
                "or the apiToken of an external service)."
            )

    async def identify(self, request: HTTPServerRequest) -> Caller:
        refuse_url_credentials(request)
        token = bearer_token(request)
        if not token:
            raise _forbidden("Send a JupyterHub API token: 'Authorization: Bearer <token>'.")
        try:
            model = await self.hub_auth.user_for_token(token, sync=False)
        except Exception as exc:  # the Hub is down or answered nonsense: not the caller's fault
            raise GatewayError(
                503, "The gateway cannot reach JupyterHub to check the token.", "server_error", "hub_down"
            ) from exc
        if not model:
            raise _forbidden("This token is not valid on this JupyterHub.")
        if not self.hub_auth.check_scopes(self.access_scopes, model):
            raise _forbidden(
                f"This token lacks the scope {access_scope(self.service_name)} needed to use the gateway."
            )
        scopes = frozenset(model.get("scopes") or ())
        return Caller(
            name=str(model["name"]),
            kind=str(model.get("kind") or "user"),
            scopes=scopes,
            usage_admin=bool(self.hub_auth.check_scopes(self.usage_admin_scopes, model)),
        )


def _forbidden(message: str) -> GatewayError:
    return GatewayError(403, message, "invalid_request_error", "forbidden")
