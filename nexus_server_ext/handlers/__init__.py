"""The NEXUS HTTP and websocket API, one module per area, all under ``/nexus/api/v1``."""

from __future__ import annotations

from typing import Any

from ..mcp import http as mcp_http
from . import (
    agent,
    chat,
    conversations,
    generate,
    memory,
    model_pulls,
    monitor,
    not_found,
    notebooks,
    openapi,
    plugins,
    projects,
    secrets,
    status,
    tasks,
    voice,
    ws,
)

API_PREFIX = "/nexus/api/v1"


def all_handlers() -> list[tuple[str, Any]]:
    return [
        *status.default_handlers,
        *openapi.default_handlers,
        *conversations.default_handlers,
        *ws.default_handlers,
        *tasks.default_handlers,
        *projects.default_handlers,
        *plugins.default_handlers,
        *monitor.default_handlers,
        *voice.default_handlers,
        *generate.default_handlers,
        *model_pulls.default_handlers,  # the model dashboard's catalogue, pulls and Use
        *chat.default_handlers,
        *memory.default_handlers,
        *notebooks.default_handlers,
        *agent.default_handlers,
        *mcp_http.default_handlers,  # /nexus/mcp: the agent's tools over MCP
        *secrets.default_handlers,
        *not_found.default_handlers,  # last: every path no route above matches
    ]
