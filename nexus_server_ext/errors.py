"""Errors NEXUS shows to people: a status code, a short code and a sentence, nothing else."""

from __future__ import annotations

from tornado import web

# The machine-readable ``error`` code used when a plain tornado HTTPError reaches the client.
ERROR_CODES: dict[int, str] = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "rate_limited",
    500: "internal_error",
    502: "upstream_error",
    503: "unavailable",
    504: "timeout",
}

FRIENDLY_MESSAGES: dict[int, str] = {
    403: "You are not allowed to do this: sign in to Jupyter, or ask an administrator for access.",
    404: "There is nothing at this address.",
    405: "This endpoint does not accept that HTTP method.",
    500: "NEXUS hit an unexpected problem. The server log has the details under this request id.",
}


class NexusError(web.HTTPError):
    """An error with a message written for the user; raised by services and handlers alike."""

    def __init__(self, status_code: int, error: str, message: str, *, headers: dict[str, str] | None = None):
        super().__init__(status_code, reason=None)
        self.error = error
        self.message = message
        self.headers = headers or {}

    def __str__(self) -> str:
        return f"HTTP {self.status_code} {self.error}: {self.message}"


def describe_http_error(status_code: int, exc: BaseException | None) -> tuple[str, str]:
    """(error code, message) for any exception that ended a request; never a traceback or path."""
    if isinstance(exc, NexusError):
        return exc.error, exc.message
    code = ERROR_CODES.get(status_code, "error" if status_code < 500 else "internal_error")
    if isinstance(exc, web.HTTPError) and status_code < 500:
        # tornado's log_message is written by the server's own code, not by the client
        if exc.log_message and status_code != 403:
            try:
                return code, exc.log_message % exc.args if exc.args else exc.log_message
            except (TypeError, ValueError):
                return code, exc.log_message
        return code, FRIENDLY_MESSAGES.get(status_code, exc.reason or "The request was not accepted.")
    return code, FRIENDLY_MESSAGES.get(status_code, FRIENDLY_MESSAGES[500])


def format_size(n: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return f"{n} bytes"  # pragma: no cover
