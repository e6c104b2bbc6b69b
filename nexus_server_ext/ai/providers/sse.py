"""Server-sent events over httpx, shared by the OpenAI and Anthropic providers, and their health probe."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx

from ..types import ProviderError


class ProbeFailed(Exception):
    """A health probe got no answer; the message says why in a few words, never naming the URL."""


def http_error(provider: str, exc: BaseException) -> ProviderError:
    """A ``ProviderError`` for a transport failure, naming the failure but never the URL or key."""
    if isinstance(exc, httpx.TimeoutException):
        return ProviderError(f"{provider}: timed out ({type(exc).__name__})", status=504)
    if isinstance(exc, httpx.ConnectError):
        return ProviderError(f"{provider}: cannot connect", status=502)
    if isinstance(exc, httpx.HTTPError):
        return ProviderError(f"{provider}: connection failed ({type(exc).__name__})", status=502)
    return ProviderError(f"{provider}: {type(exc).__name__}", status=502)


async def check_status(provider: str, response: httpx.Response) -> None:
    if response.status_code >= 400:
        await response.aread()
        hint = " (rate limited)" if response.status_code == 429 else ""
        raise ProviderError(f"{provider}: HTTP {response.status_code}{hint}", status=response.status_code)


async def sse_events(provider: str, response: httpx.Response) -> AsyncIterator[tuple[str, Any]]:
    """(event name, parsed JSON data) per event; ``("done", None)`` for OpenAI's ``[DONE]``."""
    event = "message"
    async for line in response.aiter_lines():
        if not line:
            event = "message"
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if field == "event":
            event = value
        elif field == "data":
            if value.strip() == "[DONE]":
                yield "done", None
                continue
            try:
                yield event, json.loads(value)
            except ValueError:
                raise ProviderError(f"{provider}: malformed stream (data is not JSON)", status=502) from None


async def probe_get(url: str, headers: dict[str, str], timeout_s: float) -> str:
    """``GET url`` without reading the body: ``HTTP <status>`` when the server answers below 500.

    Raises ``ProbeFailed`` with a short reason (``connection refused``, ``no answer in 5 s``,
    ``HTTP 503``); the reason is built from the failure's type, so no URL or key can leak into it."""
    try:
        async with (
            httpx.AsyncClient(timeout=httpx.Timeout(timeout_s)) as client,
            client.stream("GET", url, headers=headers) as response,
        ):
            status = response.status_code
    except httpx.TimeoutException:
        raise ProbeFailed(f"no answer in {timeout_s:g} s") from None
    except httpx.ConnectError as exc:
        raise ProbeFailed("connection refused" if _refused(exc) else "cannot connect") from None
    except (httpx.HTTPError, OSError) as exc:
        raise ProbeFailed(f"connection failed ({type(exc).__name__})") from None
    if status >= 500:
        raise ProbeFailed(f"HTTP {status}")
    return f"HTTP {status}"


def _refused(exc: BaseException) -> bool:
    """Whether a connection failure was a refusal (nothing listens there), under httpx's wrappers."""
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            return False
        if isinstance(seen, ConnectionRefusedError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
