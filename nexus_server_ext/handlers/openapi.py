"""``GET /openapi.json``: the generated OpenAPI 3 document for every NEXUS endpoint."""

from __future__ import annotations

import json

from jupyter_server.auth.decorator import authorized
from tornado import web

from .base import NexusHandler, Operation


class OpenAPIHandler(NexusHandler):
    auth_resource = "nexus:status"
    operations = {"get": Operation("The OpenAPI 3 document describing every NEXUS endpoint.")}
    uses_deferred = False

    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(self.nexus.openapi_document()))


default_handlers = [(r"/nexus/api/v1/openapi.json", OpenAPIHandler)]
