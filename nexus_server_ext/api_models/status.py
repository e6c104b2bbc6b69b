"""``/status``: components, storage and the model chain per task."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .base import ApiModel

# -- status -----------------------------------------------------------------------------------------
ComponentState = Literal["ok", "degraded", "unavailable"]


class ComponentStatus(ApiModel):
    name: str
    state: ComponentState
    detail: str = ""
    install_hint: str | None = Field(
        default=None, description="What to install or configure to make this component available."
    )


class StorageStatus(ApiModel):
    backend: Literal["sqlite", "postgresql"] | str
    url: str = Field(description="The database URL with any password hidden; a SQLite file by its name only.")
    revision: str | None
    healthy: bool


class ModelRef(ApiModel):
    provider: str
    model: str


ProviderHosting = Literal["local", "paid_api", "gateway"]
ProviderSetup = Literal["configured", "no_key", "not_configured"]


class ChainStepStatus(ModelRef):
    """One step of a task's chain: whether the router can use it, for the caller; never a URL or key."""

    hosting: ProviderHosting = Field(
        description="`local`: the model inside this server (free); `paid_api`: a public provider's API "
        "billed per token (its base URL is OpenAI's, Anthropic's...); `gateway`: any other endpoint "
        "(the team's model gateway, a self-hosted server)."
    )
    setup: ProviderSetup = Field(
        description="`configured`: the router tries this step (the local model, or a base URL and a key: "
        "the routing file's or one stored for the caller through the secrets API); `no_key`: a base URL "
        "but no key; `not_configured`: no base URL. The router skips the last two."
    )
    blocked: str | None = Field(
        default=None, description="Why the routing file's admin policy skips this step; null when allowed."
    )


class TaskRouting(ApiModel):
    task: str
    chain: list[ChainStepStatus] = Field(description="The models tried in order until one answers.")


class MCPToolOut(ApiModel):
    name: str = Field(description="The agent's name for it: `mcp__<server>__<tool>`.")
    tool: str
    kind: Literal["read", "run"] = Field(description="`run` asks for approval; `read`: listed read-only.")


class MCPServerOut(ApiModel):
    """An MCP server an administrator listed, whose allowed tools the agent may call."""

    name: str
    transport: Literal["stdio", "http"] | None = Field(description="None: the entry is misconfigured.")
    target: str | None = Field(description="The program, or the URL without credentials or query.")
    state: Literal["idle", "connecting", "connected", "failed", "stopped"]
    tools: list[MCPToolOut]
    offered: int = Field(description="How many tools the server offers in all (allowed or not).")
    missing: list[str] = Field(description="Allowed tool names the server does not offer.")
    last_error: str | None


class StatusReply(ApiModel):
    name: Literal["nexus"] = "nexus"
    version: str
    user: str
    display_name: str = Field(
        default="",
        description="How NEXUS names the user (cell labels, the notebook chat): on a single-user server its "
        "owner (`NexusApp.owner_name`), not the anonymous name of a token login.",
    )
    storage: StorageStatus
    components: list[ComponentStatus]
    models: list[TaskRouting]
    mcp_servers: list[MCPServerOut] = Field(
        default_factory=list, description="The MCP servers whose tools the agent may call (`c.MCPServers`)."
    )
