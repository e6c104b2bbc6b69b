"""``GET /status``: what NEXUS is, what it can do here, and what is missing."""

from __future__ import annotations

import asyncio

from jupyter_server.auth.decorator import authorized
from tornado import web

from ..api_models import MCPServerOut, StatusReply
from .base import NexusHandler, Operation, display_name


class StatusHandler(NexusHandler):
    auth_resource = "nexus:status"
    uses_deferred = False  # answers at once, also while the first client's warm-up runs
    operations = {
        "get": Operation(
            "NEXUS version, component health, storage backend and configured models (never secrets).",
            response=StatusReply,
        )
    }

    @web.authenticated
    @authorized
    async def get(self) -> None:
        nexus = self.nexus
        storage, components = await asyncio.gather(
            nexus.storage_status(), asyncio.to_thread(nexus.components.statuses)
        )
        # Keys stored through the secrets API configure a provider for this user (readable once the
        # deferred services exist, and only from a database that answers: no warning every poll).
        keys = {}
        if nexus.router is not None and nexus.deferred_built and storage.healthy:
            keys = await nexus.router.keys_for(self.username)
        reply = StatusReply(
            version=nexus.version,
            user=self.username,
            display_name=display_name(self),
            storage=storage,
            components=components,
            models=nexus.routing.chains(keys) if nexus.routing else [],
            # the MCP servers exist once the deferred services do (built on the first client's visit)
            mcp_servers=[MCPServerOut.model_validate(s) for s in nexus.mcp_servers.describe()]
            if nexus.deferred_built and nexus.mcp_servers is not None
            else [],
        )
        self.write_model(reply)


default_handlers = [(r"/nexus/api/v1/status", StatusHandler)]
