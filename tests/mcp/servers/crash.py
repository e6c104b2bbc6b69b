"""An MCP server that cannot start: it says why on stderr and exits 1, as one missing its config does."""

from __future__ import annotations

import sys

print("crash: cannot read /etc/crash-mcp/config.toml: no such file", file=sys.stderr, flush=True)
sys.exit(1)
