"""``python -m nexus_server_ext.mcp --server URL``: NEXUS's notebook tools for MCP clients that speak stdio.

A stdio MCP server that passes every ``tools/list`` and ``tools/call`` on to a
running Jupyter server's ``/nexus/mcp`` with the Jupyter token (``--token``, or
``JUPYTER_TOKEN`` in the environment), under the stdio client's own name, so
its changes are attributed, approved and audited exactly as a client speaking
HTTP would be. Each request is one short HTTP exchange: a restarted Jupyter
server is simply reached again on the next call. Logs go to stderr (stdout is
the protocol).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

from .._version import __version__

if TYPE_CHECKING:
    from mcp import Client, types
    from mcp.server.lowlevel import Server

log = logging.getLogger("nexus_server_ext.mcp")

ENDPOINT = ("nexus", "mcp")


# Where a JupyterLab page's own path starts in a URL copied from the browser or the server's log.
PAGES = frozenset({"lab", "tree", "notebooks", "doc"})


def endpoint_url(server: str) -> tuple[str, str]:
    """The MCP endpoint of a Jupyter server's URL, and the token the URL carries (``?token=``), if any.

    Takes the server's URL (``http://host:8888/``, ``https://hub/user/alice/``), the endpoint itself,
    or a JupyterLab URL as the server prints it (``http://host:8888/lab?token=...``).
    """
    parts = urlsplit(server.strip())
    token = parse_qs(parts.query).get("token", [""])[0]
    segments = [s for s in parts.path.split("/") if s]
    if segments[-len(ENDPOINT) :] == list(ENDPOINT):
        base = segments[: -len(ENDPOINT)]
    else:
        base = []
        for i, segment in enumerate(segments):
            if segment in PAGES and not (i > 0 and segments[i - 1] == "user"):
                break
            base.append(segment)
    return urlunsplit((parts.scheme, parts.netloc, "/" + "/".join([*base, *ENDPOINT]), "", "")), token


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m nexus_server_ext.mcp",
        description="Serve a running Jupyter server's NEXUS notebook tools to an MCP client over stdio.",
    )
    parser.add_argument(
        "--server",
        required=True,
        help="The Jupyter server's URL, e.g. http://127.0.0.1:8888/ or https://hub/user/alice/ (a "
        "JupyterLab URL with ?token=... works too: its token is used unless --token is given).",
    )
    parser.add_argument(
        "--token",
        default=os.environ.get("JUPYTER_TOKEN", ""),
        help="The Jupyter token (default: $JUPYTER_TOKEN, else the URL's). On JupyterHub, an API token "
        "of the user.",
    )
    return parser.parse_args(argv)


def reason(exc: BaseException, status: int | None = None) -> str:
    """What went wrong reaching NEXUS, in words: ``status`` is the HTTP status NEXUS refused with, if it
    did (the SDK reports only "an error response"); exception groups are opened to their first error."""
    if status in (401, 403):
        return f"HTTP {status}: the Jupyter server refused the token (pass --token or set JUPYTER_TOKEN)"
    if status == 404:
        return "HTTP 404: no NEXUS at this address (is --server the Jupyter server's URL with NEXUS enabled?)"
    while getattr(exc, "exceptions", None):  # an exception group: its first member
        exc = exc.exceptions[0]  # type: ignore[attr-defined]
    text = str(exc) or type(exc).__name__
    return f"HTTP {status}: {text}" if status else text


def proxy_server(url: str, token: str) -> Server[Any]:
    """The stdio side: an MCP server whose tools are ``url``'s, called under the stdio client's name."""
    from mcp import types
    from mcp.server.lowlevel import Server
    from mcp.shared.exceptions import MCPError

    headers = {"Authorization": f"token {token}"} if token else {}

    @asynccontextmanager
    async def upstream(ctx: Any, refused: list[int]) -> AsyncIterator[Client]:
        """A connection to NEXUS for one request, under the stdio client's name; ``refused`` gets the
        HTTP status of a refusal (the SDK's own error says only "an error response")."""
        import httpx2
        from mcp import Client
        from mcp.client.streamable_http import streamable_http_client

        params = getattr(ctx.session, "client_params", None)
        info = getattr(params, "client_info", None)
        name = str(getattr(info, "name", "") or "mcp-client")
        version = str(getattr(info, "version", "") or __version__)
        # No read timeout of our own: a call may wait minutes for the user's approval (SSE pings flow).
        timeout = httpx2.Timeout(30, read=None)

        async def note_refusal(response: Any) -> None:
            if response.status_code >= 400:
                refused[:] = [response.status_code]

        hooks = {"response": [note_refusal]}
        async with httpx2.AsyncClient(headers=headers, timeout=timeout, event_hooks=hooks) as http:
            transport = streamable_http_client(url, http_client=http)
            client = Client(
                transport, client_info=types.Implementation(name=name, version=version), cache=None
            )
            async with client:
                yield client

    async def list_tools(ctx: Any, params: types.PaginatedRequestParams | None) -> types.ListToolsResult:
        refused: list[int] = []
        try:
            async with upstream(ctx, refused) as client:
                found = await client.list_tools(cursor=params.cursor if params else None)
        except Exception as exc:
            why = reason(exc, refused[0] if refused else None)
            log.warning("NEXUS at %s: %s", url, why)
            raise MCPError(types.INTERNAL_ERROR, f"NEXUS at {url} could not list its tools: {why}") from None
        return types.ListToolsResult(tools=found.tools, next_cursor=found.next_cursor)

    async def call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        refused: list[int] = []
        try:
            async with upstream(ctx, refused) as client:
                return await client.call_tool(params.name, params.arguments)
        except Exception as exc:
            why = reason(exc, refused[0] if refused else None)
            log.warning("NEXUS at %s: %s", url, why)
            text = f"NEXUS at {url} could not be reached: {why}"
            return types.CallToolResult(content=[types.TextContent(text=text)], is_error=True)

    return Server(
        "nexus",
        version=__version__,
        title="NEXUS",
        instructions=f"NEXUS's notebook tools on the Jupyter server {url}.",
        on_list_tools=list_tools,
        on_call_tool=call_tool,
    )


async def serve(url: str, token: str) -> None:
    from mcp.server.stdio import stdio_server

    server = proxy_server(url, token)
    async with stdio_server() as (read_stream, write_stream):
        await server.run(read_stream, write_stream, server.create_initialization_options())


def main(argv: list[str] | None = None) -> int:
    import anyio

    args = parse_args(argv)
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(name)s: %(message)s")
    url, url_token = endpoint_url(args.server)
    token = args.token or url_token
    if not token:
        log.warning("no token (--token or JUPYTER_TOKEN): the Jupyter server will refuse the calls")
    anyio.run(serve, url, token)
    return 0


if __name__ == "__main__":
    sys.exit(main())
