"""The last route under ``/nexus/api/v1``: any path no endpoint matches answers a JSON 404.

Without it such a path (an id the route pattern refuses, ``../``, a 10,000
character segment) falls through to Jupyter's HTML 404 page, which answers
before authentication and embeds the page configuration. Here authentication
and authorization come first (403 without credentials, as on every NEXUS
route), then the same ``{"error", "message", "request_id"}`` body as every
other NEXUS error, which never repeats the path.
"""

from __future__ import annotations

from typing import Any, ClassVar

from jupyter_server.auth.decorator import authorized
from tornado import web

from ..errors import NexusError
from .base import NexusHandler, Operation

# Matches ``/nexus/api/v1`` itself and everything below it; registered after every other route.
PATTERN = r"/nexus/api/v1(?P<path>|/.*)"


class NotFoundHandler(NexusHandler):
    auth_resource = "nexus:status"
    uses_deferred = False
    # Not an endpoint: the OpenAPI document leaves it out (see ``openapi.build_openapi``).
    operations: ClassVar[dict[str, Operation]] = {}
    in_openapi: ClassVar[bool] = False

    def decode_argument(self, value: bytes, name: str | None = None) -> str:
        # The path is never used; tornado's strict decoding would answer 400 before authentication.
        return value.decode("utf-8", "replace")

    def _not_found(self) -> None:
        raise NexusError(
            404,
            "not_found",
            "There is no NEXUS endpoint at this address; GET /nexus/api/v1/openapi.json lists them.",
        )

    @web.authenticated
    @authorized
    async def get(self, **_: Any) -> None:
        self._not_found()

    @web.authenticated
    @authorized
    async def post(self, **_: Any) -> None:
        self._not_found()

    @web.authenticated
    @authorized
    async def put(self, **_: Any) -> None:
        self._not_found()

    @web.authenticated
    @authorized
    async def patch(self, **_: Any) -> None:
        self._not_found()

    @web.authenticated
    @authorized
    async def delete(self, **_: Any) -> None:
        self._not_found()


default_handlers = [(PATTERN, NotFoundHandler)]
