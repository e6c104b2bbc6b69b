"""A small real MCP server for the client tests, over stdio (or Streamable HTTP with ``--http PORT``).

``add`` changes nothing but is not marked read-only by the tests' admin, so it asks; ``shout`` is
the one they mark read-only; ``secret`` is never on an allow list; ``pid`` lets a test kill the
server between calls and ``die`` ends it during one; ``picture`` returns an image; ``fail`` is a
tool whose own run fails.
"""

from __future__ import annotations

import os
import sys

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.utilities.types import Image

server = MCPServer("demo", log_level="WARNING")
PNG = bytes.fromhex("89504e470d0a1a0a") + bytes(92)  # 100 bytes that start like a PNG


@server.tool()
def add(a: int, b: int) -> str:
    """Add two integers."""
    return f"{a} + {b} = {a + b}"


@server.tool()
def shout(text: str) -> str:
    """The text in capitals."""
    return text.upper()


@server.tool()
def secret() -> str:
    """What no allow list lets through."""
    return "the launch codes"


@server.tool()
def pid() -> str:
    """This server's process id."""
    return str(os.getpid())


@server.tool()
def die() -> str:
    """End this server at once, as a crash would."""
    print("demo: dying as asked", file=sys.stderr, flush=True)
    os._exit(3)


@server.tool()
def picture() -> Image:
    """A small image."""
    return Image(data=PNG, format="png")


@server.tool()
def fail() -> str:
    """A tool that always fails."""
    raise ValueError("the demo tool failed on purpose")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--http":
        server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
    else:
        print("demo MCP server ready", file=sys.stderr, flush=True)
        server.run()
