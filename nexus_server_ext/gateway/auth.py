"""Who is calling the gateway: a shared bearer token (one machine) or the Hub (a team; see ``hub.py``).

Either way a token in the URL is refused before anything else: URLs end up in
proxy logs, browser history and ``Referer`` headers, so a key sent there must be
treated as leaked, and accepting it would teach clients to keep doing it.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from typing import Protocol

from tornado.httputil import HTTPServerRequest

from .errors import GatewayError

URL_CREDENTIALS = ("token", "api_key", "access_token", "key")


@dataclass(frozen=True)
class Caller:
    """The identity quotas and the ledger are kept under, and what it may do."""

    name: str
    kind: str = "user"  # user | service | token
    scopes: frozenset[str] = field(default_factory=frozenset)
    usage_admin: bool = False


class GatewayAuth(Protocol):
    mode: str

    async def identify(self, request: HTTPServerRequest) -> Caller: ...


def refuse_url_credentials(request: HTTPServerRequest) -> None:
    named = [k for k in URL_CREDENTIALS if k in request.query_arguments]
    if named:
        raise GatewayError(
            403,
            f"Credentials in the URL ('{named[0]}=') are refused: they leak into logs. "
            "Send 'Authorization: Bearer <token>' instead.",
            "invalid_request_error",
            "token_in_url",
        )


def bearer_token(request: HTTPServerRequest) -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() in ("bearer", "token") else ""


class SharedTokenAuth:
    """One secret for every caller (``--token``): a laptop or a trusted single-tenant deployment."""

    mode = "token"

    def __init__(self, token: str) -> None:
        if not token:
            raise ValueError("the gateway token must not be empty")
        self.token = token

    async def identify(self, request: HTTPServerRequest) -> Caller:
        refuse_url_credentials(request)
        given = bearer_token(request)
        if not given or not hmac.compare_digest(given.encode(), self.token.encode()):
            raise GatewayError(
                401,
                "Missing or wrong API key (send 'Authorization: Bearer <token>').",
                code="invalid_api_key",
            )
        # Everyone shares the token, so everyone shares one quota and one ledger line.
        return Caller(name="token", kind="token", usage_admin=True)
