"""``/secrets``: set, replace and delete model-provider API keys; no response ever contains one.

A user stores their own key (``/secrets/user/{provider}``, permission
``nexus:secrets``); an administrator stores the server-wide key every user
falls back to (``/secrets/server/{provider}``, permission ``nexus:admin``).
Keys are encrypted at rest (``store/secrets.py``); the model router uses the
caller's own key, else the server-wide one, else the routing file's ``api_key``
(usually an environment variable). ``GET /secrets`` says which are set, and when.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from jupyter_server.auth.decorator import authorized
from tornado import web

from ..api_models import (
    ProviderSecretIn,
    ProviderSecretList,
    ProviderSecretOut,
    ProviderSecretState,
    SecretScope,
)
from ..errors import NexusError
from .base import NexusHandler, Operation

PROVIDER = r"(?P<provider>[A-Za-z0-9][A-Za-z0-9_.-]{0,63})"


class SecretsHandler(NexusHandler):
    auth_resource = "nexus:secrets"
    operations = {
        "get": Operation(
            "Which API keys are set for each remote provider of the routing file (the caller's own, the "
            "server-wide one, the environment's), when they were set, and whose the caller's requests use. "
            "Never the keys.",
            response=ProviderSecretList,
        )
    }

    def remote_providers(self) -> dict[str, dict[str, Any]]:
        """The routing file's providers that take a key (the local engine does not)."""
        routing = self.nexus.routing
        providers = routing.providers if routing is not None else {}
        return {name: spec for name, spec in providers.items() if spec.get("kind") != "local"}

    @web.authenticated
    @authorized
    async def get(self) -> None:
        states = await self.nexus.secrets.states(await self.user_id())
        own = {s.provider: s.updated_at for s in states if s.scope == "user"}
        server = {s.provider: s.updated_at for s in states if s.scope == "server"}
        out = []
        for name, spec in self.remote_providers().items():
            environment = bool(spec.get("api_key"))
            in_use: Literal["user", "server", "environment"] | None = (
                "user"
                if name in own
                else "server"
                if name in server
                else "environment"
                if environment
                else None
            )
            out.append(
                ProviderSecretState(
                    provider=name,
                    kind=str(spec.get("kind", "")),
                    user_key_set=name in own,
                    user_key_updated_at=own.get(name),
                    server_key_set=name in server,
                    server_key_updated_at=server.get(name),
                    environment_key_set=environment,
                    in_use=in_use,
                )
            )
        self.write_model(ProviderSecretList(providers=out))


class SecretHandler(NexusHandler):
    """Setting and deleting one provider's key; the scope (own or server-wide) is the subclass's.
    Each subclass declares its own decorated verbs: jupyter_server's ``@authorized`` remembers the
    resource of the first handler that calls a decorated method, so one shared method would check
    the wrong resource for the other scope."""

    scope: ClassVar[SecretScope] = "user"

    def check_provider(self, provider: str) -> None:
        routing = self.nexus.routing
        spec = (routing.providers if routing is not None else {}).get(provider)
        if spec is None:
            raise NexusError(
                404, "not_found", "The routing file has no provider of this name; GET /secrets lists them."
            )
        if spec.get("kind") == "local":
            raise NexusError(
                400, "invalid_request", "The local model runs inside this server and takes no API key."
            )

    async def owner_id(self) -> int | None:
        return await self.user_id() if self.scope == "user" else None

    async def put_key(self, provider: str) -> None:
        self.check_provider(provider)
        body = self.read_model(ProviderSecretIn)
        state = await self.nexus.secrets.put(provider, await self.owner_id(), body.api_key)
        self.write_model(
            ProviderSecretOut(provider=provider, scope=self.scope, set=True, updated_at=state.updated_at)
        )

    async def delete_key(self, provider: str) -> None:
        self.check_provider(provider)
        if not await self.nexus.secrets.delete(provider, await self.owner_id()):
            raise NexusError(404, "not_found", f"No {self.scope} key is stored for this provider.")
        self.set_status(204)
        self.finish()


class UserSecretHandler(SecretHandler):
    auth_resource = "nexus:secrets"
    scope = "user"
    operations = {
        "put": Operation(
            "Set or replace the caller's own API key for a provider (used for their requests only).",
            request=ProviderSecretIn,
            response=ProviderSecretOut,
            max_body_bytes=8 * 1024,
        ),
        "delete": Operation(
            "Delete the caller's own key for a provider (their requests fall back to the server's).",
            status=204,
        ),
    }

    @web.authenticated
    @authorized
    async def put(self, provider: str) -> None:
        await self.put_key(provider)

    @web.authenticated
    @authorized
    async def delete(self, provider: str) -> None:
        await self.delete_key(provider)


class ServerSecretHandler(SecretHandler):
    auth_resource = "nexus:admin"
    scope = "server"
    operations = {
        "put": Operation(
            "Set or replace the server-wide API key for a provider (administrators).",
            request=ProviderSecretIn,
            response=ProviderSecretOut,
            max_body_bytes=8 * 1024,
            description="Requires `write` permission on `nexus:admin`. Every user without an own key "
            "uses it, in preference to the routing file's `api_key`.",
        ),
        "delete": Operation(
            "Delete the server-wide key for a provider (administrators).",
            status=204,
            description="Requires `write` permission on `nexus:admin`.",
        ),
    }

    @web.authenticated
    @authorized
    async def put(self, provider: str) -> None:
        await self.put_key(provider)

    @web.authenticated
    @authorized
    async def delete(self, provider: str) -> None:
        await self.delete_key(provider)


default_handlers = [
    (r"/nexus/api/v1/secrets", SecretsHandler),
    (rf"/nexus/api/v1/secrets/user/{PROVIDER}", UserSecretHandler),
    (rf"/nexus/api/v1/secrets/server/{PROVIDER}", ServerSecretHandler),
]
