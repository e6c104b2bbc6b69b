"""What every NEXUS REST handler shares: the service registry, JSON in and out, errors, limits, audit.

Handlers stay thin: parse the body into a pydantic model (``read_model``), call
a service, ``write_model`` the reply. Each area's handler sets
``auth_resource = "nexus:<area>"`` and decorates every verb with
``@web.authenticated`` then ``@authorized``.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from jupyter_server.base.handlers import APIHandler
from pydantic import BaseModel, ValidationError
from tornado import web

from .. import metrics
from ..api_models import ErrorReply
from ..errors import NexusError, describe_http_error, format_size

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
    description: str = ""
    # The rate-limit bucket (``chat``, ``completion``, ``voice``, ``default``...) this verb draws from,
    # and how many tokens one call costs; when set, ``prepare`` enforces it before the handler runs
    # (429 + Retry-After). The one place rate limits are applied to REST routes.
    rate_class: str | None = None
    cost: float = 1.0


# Deepest JSON nesting NEXUS reads (no payload of ours comes close); deeper input is refused before
# it can exhaust the parser's or the validator's recursion.
MAX_JSON_DEPTH = 64


class BadJSON(ValueError):
    """Input that is not a JSON document NEXUS will read; ``error`` and ``message`` are safe to show."""

    def __init__(self, error: str, message: str) -> None:
        super().__init__(message)
        self.error = error
        self.message = message


def decode_json(raw: str | bytes, what: str = "The request body") -> Any:
    """One JSON document from ``raw``, for every REST body and websocket frame.

    Not ``json.loads``: a deeply nested document makes it raise ``RecursionError`` (a 500, or a
    dropped socket). pydantic-core's parser stops at a fixed depth with a ``ValueError``, and
    ``MAX_JSON_DEPTH`` is checked iteratively on what it returns.
    """
    from pydantic_core import from_json

    try:
        data = from_json(raw, allow_inf_nan=False)
    except ValueError as exc:
        if "recursion limit" in str(exc):
            raise _too_deep(what) from None
        # the parser's reason names a position, never the input ("expected value at line 1 column 1")
        raise BadJSON("invalid_json", f"{what} is not valid JSON ({exc}).") from None
    if json_depth(data, MAX_JSON_DEPTH) > MAX_JSON_DEPTH:
        raise _too_deep(what)
    return data


def _too_deep(what: str) -> BadJSON:
    return BadJSON("too_deeply_nested", f"{what} is nested too deeply: at most {MAX_JSON_DEPTH} levels.")


def json_depth(data: Any, stop_after: int) -> int:
    """How deeply lists and objects nest in ``data`` (stops counting past ``stop_after``)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if not isinstance(value, (dict, list)):
            continue
        deepest = max(deepest, depth)
        if deepest > stop_after:
            break
        stack.extend((v, depth + 1) for v in (value.values() if isinstance(value, dict) else value))
    return deepest


def validation_message(exc: ValidationError) -> str:
    """Pydantic's errors as one sentence: 'title: String should have at most 200 characters'."""
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err.get("loc", ())) or "body"
        parts.append(f"{where}: {err.get('msg', 'invalid value')}")
    return "; ".join(parts)


def database_lost(exc: BaseException | None) -> bool:
    """The database went away mid-request (if SQLAlchemy is not even loaded, it was not that)."""
    if exc is None or "sqlalchemy" not in sys.modules:
        return False
    from sqlalchemy.exc import OperationalError

    return isinstance(exc, OperationalError)


class NexusHandler(APIHandler):
    auth_resource: ClassVar[str] = "nexus:status"
    operations: ClassVar[dict[str, Operation]] = {}
    # Whether the handler uses the deferred services (the stores, the core): ``prepare`` then waits
    # until they are built. Handlers of light services only (``/status``) answer at once.
    uses_deferred: ClassVar[bool] = True
    # Whether every mutating request gets a generic audit row (``on_finish``); a handler that writes
    # its own, more precise rows (MCP: one ``agent.tool`` row per call) turns it off.
    audit_requests: ClassVar[bool] = True

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
        if not self.current_user and self.request.method != "OPTIONS":
            # Authentication before anything else, also for a verb the route lacks (not a 405).
            raise web.HTTPError(403)
        nexus: NexusServices | None = self.settings.get("nexus")
        if nexus is None:
            return
        nexus.first_client()
        op = self.operation()
        if op is not None and op.rate_class:
            self.check_rate_limit(op.cost, endpoint_class=op.rate_class)
        if self.uses_deferred:
            await nexus.ready()

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
            data = decode_json(body) if body.strip() else {}
        except BadJSON as exc:
            raise NexusError(400, exc.error, exc.message) from None
        if not isinstance(data, dict):
            raise NexusError(400, "invalid_request", "The request body must be a JSON object.")
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

    def check_rate_limit(self, cost: float = 1.0, endpoint_class: str = "default") -> None:
        wait = self.nexus.rate_limiter.acquire(self.username, cost, endpoint_class)
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
        if database_lost(exc):
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
        """Record latency and status for the performance monitor; audit every change and its outcome."""
        method = self.request.method or ""
        metrics.record_request(
            type(self).__name__,
            method,
            self.get_status(),
            self.request.request_time(),
            self.username if self.current_user and "nexus" in self.settings else None,
        )
        if (
            method not in MUTATING_METHODS
            or not self.audit_requests
            or not self.current_user
            or "nexus" not in self.settings
        ):
            return
        status = self.get_status()
        nexus, username, path, request_id = self.nexus, self.username, self.request.path, self.request_id

        async def record() -> None:
            from ..security.audit import audit_action

            await nexus.ready()  # refused before prepare finished: the audit log may not exist yet
            await nexus.audit.record(
                username=username,
                action=audit_action(method),
                resource=path,
                outcome="ok" if status < 400 else "refused" if status < 500 else "failed",
                status_code=status,
                request_id=request_id,
            )

        self.nexus.background(asyncio.ensure_future(record()))


def display_name(handler: Any) -> str:
    """How NEXUS names the user (agent cells and cards, ``/status``): on a single-user server its owner
    (not Jupyter's "Anonymous Carpo" of a token login), else the identity provider's display name."""
    if handler.nexus.owner_name:
        return str(handler.nexus.owner_name)
    user = handler.current_user
    return str(getattr(user, "display_name", "") or getattr(user, "name", "") or handler.username)
