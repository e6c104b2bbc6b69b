"""The notebook agent: runs, their steps, approvals, stop and undo (REST and websocket)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from .base import ApiModel

AgentMode = Literal["ask", "auto_edits", "auto"]
AgentRunState = Literal["running", "waiting", "done", "failed", "stopped", "undone"]
AgentStepStatus = Literal["pending", "running", "done", "failed", "rejected", "skipped"]
AgentToolKind = Literal["read", "edit", "run"]
AgentDecision = Literal["approve", "reject", "approve_rest"]

MODE_HELP = (
    "`ask` (the default): every step that changes the notebook or runs code waits for approval; "
    "`auto_edits`: edits are applied at once, running code still asks; `auto`: nothing asks (only where "
    "the administrator allows it: `AgentService.allow_auto`)."
)


class AgentRunCreate(ApiModel):
    """Start an agent turn in a notebook."""

    notebook: str = Field(min_length=1, max_length=1024, description="The notebook's path (server-relative).")
    goal: str = Field(
        min_length=1, description="What the agent should do; longer than `AgentService.max_goal_chars`: 413."
    )
    mode: AgentMode = Field(default="ask", description=MODE_HELP)


class AgentApproval(ApiModel):
    """The user's answer to a step that waits for approval."""

    decision: AgentDecision = Field(
        description="`approve` this step; `reject` it (nothing changes; `reason` goes back to the model); "
        "`approve_rest`: this step and every later step of the turn."
    )
    reason: str | None = Field(default=None, max_length=2000)


class AgentStepOut(ApiModel):
    """One tool call of a turn."""

    id: str
    index: int
    tool: str
    kind: AgentToolKind = Field(description="`read` never asks; `edit` and `run` change something.")
    arguments: dict[str, Any]
    status: AgentStepStatus
    summary: str = Field(default="", description="What the step did or found, in a line.")
    cell_id: str | None = None
    diff: str | None = Field(default=None, description="A unified diff of the cell, for an edit.")
    code: str | None = Field(default=None, description="The code a `run` step runs.")
    result: str | None = Field(default=None, description="What the tool returned to the model (truncated).")
    reason: str | None = Field(default=None, description="Why the user rejected the step, if they said.")
    approved_by: str | None = Field(
        default=None, description="Who approved it; `auto` when the turn's mode did not ask."
    )


class AgentUsageOut(ApiModel):
    steps: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    seconds: float = 0.0


class AgentLimitsOut(ApiModel):
    max_steps: int
    max_tokens: int
    max_seconds: float


class AgentUndoOut(ApiModel):
    """What undoing a turn restored, and precisely what it could not."""

    cells_restored: int = Field(description="Cells put back as they were before the turn.")
    cells_removed: int = Field(description="Cells the turn had added, taken out again.")
    cells_kept: list[str] = Field(
        default_factory=list,
        description="Cells a person changed after the agent did: left as the person left them.",
    )
    variables_restored: list[str] = Field(default_factory=list)
    variables_removed: list[str] = Field(
        default_factory=list, description="Variables the turn created, deleted again."
    )
    variables_not_restored: dict[str, str] = Field(
        default_factory=dict, description="Variable name -> why its earlier value could not be put back."
    )
    kernel_restored: bool = Field(description="False when the turn ran no code, or the kernel was gone.")
    message: str


class AgentRunOut(ApiModel):
    id: str
    notebook: str
    goal: str
    mode: AgentMode
    state: AgentRunState
    owner: str = Field(description="Who started the turn; only they approve its steps.")
    request_id: str | None = Field(
        default=None, description="The `id` of the `agent.start` frame that started it, if one did."
    )
    client: str | None = Field(
        default=None, description="The outside agent (an MCP client's name) whose calls these are, if any."
    )
    model: str | None = Field(default=None, description="The model that answered last (`provider/model`).")
    message: str = Field(default="", description="The agent's words: its plan, then its final answer.")
    reason: str | None = Field(default=None, description="Why the turn ended, when it did not finish.")
    steps: list[AgentStepOut] = Field(default_factory=list)
    pending: list[str] = Field(default_factory=list, description="Ids of the steps waiting for approval.")
    usage: AgentUsageOut = Field(default_factory=AgentUsageOut)
    limits: AgentLimitsOut
    can_undo: bool = False
    undo: AgentUndoOut | None = None
    created_at: datetime
    ended_at: datetime | None = None


class AgentRunList(ApiModel):
    runs: list[AgentRunOut]


class AgentToolOut(ApiModel):
    name: str
    kind: AgentToolKind
    description: str
    parameters: dict[str, Any] = Field(description="The JSON schema of the tool's arguments.")


class AgentToolList(ApiModel):
    """The agent's tools, and what this server allows a turn."""

    tools: list[AgentToolOut]
    allow_auto: bool = Field(description="Whether the `auto` mode (nothing asks) is allowed here.")
    limits: AgentLimitsOut


# -- websocket ---------------------------------------------------------------------------------------
class AgentStartFrame(ApiModel):
    """Start an agent turn (answered with `agent.run` frames, as for `POST /agent/runs`)."""

    type: Literal["agent.start"]
    id: str | None = Field(default=None, max_length=64)
    notebook: str = Field(min_length=1, max_length=1024)
    goal: str = Field(min_length=1)
    mode: AgentMode = "ask"


class AgentApprovalFrame(ApiModel):
    type: Literal["agent.approval"]
    run_id: str = Field(min_length=1, max_length=64)
    step_id: str = Field(min_length=1, max_length=64)
    decision: AgentDecision
    reason: str | None = Field(default=None, max_length=2000)


class AgentStopFrame(ApiModel):
    type: Literal["agent.stop"]
    run_id: str = Field(min_length=1, max_length=64)


class AgentUndoFrame(ApiModel):
    type: Literal["agent.undo"]
    run_id: str = Field(min_length=1, max_length=64)


class AgentRunFrame(ApiModel):
    """The whole turn as it stands, after every change; sent to the owner's tabs and to everyone
    following the notebook."""

    type: Literal["agent.run"] = "agent.run"
    run: AgentRunOut
    delta: str | None = Field(default=None, description="Text the model just added to `message`.")
