"""What every NEXUS REST handler shares: the service registry, JSON in and out, errors, limits, audit.

Handlers stay thin: parse the body into a pydantic model (``read_model``), call
a service, ``write_model`` the reply. Each area's handler sets
``auth_resource = "nexus:<area>"`` and decorates every verb with
``@web.authenticated`` then ``@authorized``.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from jupyter_server.base.handlers import APIHandler
from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import OperationalError

from ..api_models import ErrorReply
from ..errors import NexusError, describe_http_error, format_size
from ..security.audit import audit_action

if TYPE_CHECKING:
    from ..registry import NexusServices

M = TypeVar("M", bound=BaseModel)

MUTATING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True)
class Operation:
    """OpenAPI facts about one verb of a handler; the OpenAPI document is built from these."""

    summary: str
    response: type[BaseModel] | None = None
    request: type[BaseModel] | None = None
    status: int = 200
    max_body_bytes: int | None = None
    rate_limited: bool = False
    description: str = ""


def validation_message(exc: ValidationError) -> str:
    """Pydantic's errors as one sentence: 'title: String should have at most 200 characters'."""
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err.get("loc", ())) or "body"
        parts.append(f"{where}: {err.get('msg', 'invalid value')}")
    return "; ".join(parts)


class NexusHandler(APIHandler):
    auth_resource: ClassVar[str] = "nexus:status"
    operations: ClassVar[dict[str, Operation]] = {}

    request_id: str = ""

    @property
    def nexus(self) -> NexusServices:
        return self.settings["nexus"]

    @property
    def username(self) -> str:
        return self.nexus.username_for(self.current_user) if self.current_user else "anonymous"

    async def prepare(self, **kwargs: Any) -> None:
        self.request_id = uuid.uuid4().hex[:16]
        self.set_header("X-Request-Id", self.request_id)
        await super().prepare(**kwargs)

    def operation(self) -> Operation | None:
        return self.operations.get((self.request.method or "").lower())

    # -- input / output -------------------------------------------------------------------------
    def read_model(self, model: type[M]) -> M:
        """The request body as ``model``: 413 when too large, 400 when not JSON or not valid."""
        op = self.operation()
        limit = (op.max_body_bytes if op and op.max_body_bytes else None) or self.nexus.config.max_body_bytes
        body = self.request.body or b""
        if len(body) > limit:
            raise NexusError(
                413,
                "payload_too_large",
                f"The request body is {format_size(len(body))}; "
                f"this endpoint accepts at most {format_size(limit)}.",
            )
        try:
            data = json.loads(body) if body.strip() else {}
        except ValueError:
            raise NexusError(400, "invalid_json", "The request body is not valid JSON.") from None
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            raise NexusError(400, "invalid_request", validation_message(exc)) from None

    def write_model(self, model: BaseModel, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(model.model_dump_json())

    async def user_id(self) -> int:
        """The caller's row id in ``users`` (created on first sight)."""
        if self.nexus.storage_error:
            raise NexusError(
                503,
                "storage_unavailable",
                "NEXUS cannot use its database right now; an administrator can see why in the server log.",
            )
        display = getattr(self.current_user, "display_name", "") or ""
        return await self.nexus.users.ensure(self.username, "" if self.nexus.owner_name else display)

    def check_rate_limit(self, cost: float = 1.0) -> None:
        wait = self.nexus.rate_limiter.acquire(self.username, cost)
        if wait > 0:
            header = self.nexus.rate_limiter.retry_after_header(wait)
            raise NexusError(
                429,
                "rate_limited",
                f"Too many requests: try again in {header} s.",
                headers={"Retry-After": header},
            )

    # -- errors ---------------------------------------------------------------------------------
    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, OperationalError):  # the database went away mid-request
            status_code = 503
            exc = NexusError(
                503, "storage_unavailable", "NEXUS lost its database connection; try again shortly."
            )
            self.set_status(503)
        error, message = describe_http_error(status_code, exc)
        if isinstance(exc, NexusError):
            for name, value in exc.headers.items():
                self.set_header(name, value)
        if status_code >= 500:
            self.log.error("NEXUS request %s failed", self.request_id, exc_info=kwargs.get("exc_info"))
        self.set_header("Content-Type", "application/json")
        if self.request_id:  # send_error() cleared the headers set in prepare()
            self.set_header("X-Request-Id", self.request_id)
        reply = ErrorReply(error=error, message=message, request_id=self.request_id or "-")
        self.finish(reply.model_dump_json())

    def on_finish(self) -> None:
        """Audit every change attempted through NEXUS by a signed-in user, and its outcome."""
        method = self.request.method or ""
        if method not in MUTATING_METHODS or not self.current_user or "nexus" not in self.settings:
            return
        status = self.get_status()
        coro = self.nexus.audit.record(
            username=self.username,
            action=audit_action(method),
            resource=self.request.path,
            outcome="ok" if status < 400 else "refused" if status < 500 else "failed",
            status_code=status,
            request_id=self.request_id,
        )
        self.nexus.background(asyncio.ensure_future(coro))
