"""Background tasks, projects and git, plugins and commands, metrics and the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from .base import ApiModel

# -- tasks, projects, plugins, commands, metrics, audit ---------------------------------------------
TaskState = Literal["pending", "running", "succeeded", "failed", "cancelled", "interrupted"]


class TaskOut(ApiModel):
    id: str
    kind: str
    state: TaskState
    progress: float
    message: str
    error: str | None = None
    result: dict[str, Any] | None = None
    attempts: int = 0
    retry_of: str | None = Field(default=None, description="The task this one retries.")
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None


class TaskList(ApiModel):
    tasks: list[TaskOut]


class ProjectTemplateOut(ApiModel):
    name: str
    title: str
    description: str


class ProjectCreate(ApiModel):
    name: str = Field(min_length=1, max_length=100)
    template: str = Field(default="data-analysis", max_length=64)
    path: str | None = Field(
        default=None, max_length=1024, description="Folder relative to the server root (default: the name)."
    )
    venv: bool = Field(default=False, description="Create a virtual environment and a kernel spec for it.")
    dependencies: list[str] = Field(default_factory=list, max_length=50)


class ProjectOut(ApiModel):
    id: str
    name: str
    path: str
    template: str
    venv_path: str | None = None
    kernel_name: str | None = None
    created_at: datetime


class ProjectCreated(ApiModel):
    project: ProjectOut
    task_id: str | None = Field(default=None, description="The environment task, when venv was requested.")


class ProjectList(ApiModel):
    projects: list[ProjectOut]
    templates: list[ProjectTemplateOut]


class GitFileStatus(ApiModel):
    path: str
    index: str
    worktree: str


class GitStatusOut(ApiModel):
    branch: str | None
    clean: bool
    files: list[GitFileStatus]


class GitDiffOut(ApiModel):
    diff: str
    files: list[str]


class GitCommitOut(ApiModel):
    sha: str
    author: str
    email: str
    date: str
    subject: str


class GitLogOut(ApiModel):
    commits: list[GitCommitOut]


class CommitMessageOut(ApiModel):
    message: str = Field(description="A suggested commit message; the user edits it before committing.")


class GitCommitRequest(ApiModel):
    message: str = Field(min_length=1, max_length=10_000)
    paths: list[str] | None = Field(default=None, max_length=1000)


class PluginOut(ApiModel):
    group: str
    name: str
    value: str
    distribution: str | None
    version: str | None
    state: Literal["loaded", "broken"]
    error: str | None = None
    provides: list[str]


class PluginList(ApiModel):
    plugins: list[PluginOut]


class CommandOut(ApiModel):
    name: str
    title: str
    phrases: list[str]
    target: Literal["frontend", "intent", "server"]
    lab_command: str | None = None
    intent: str | None = None
    destructive: bool = False
    takes_text: bool = False
    source: str


class CommandList(ApiModel):
    commands: list[CommandOut]


class CommandRun(ApiModel):
    args: dict[str, Any] = Field(default_factory=dict)
    text: str | None = Field(
        default=None, max_length=10_000, description="Free text for takes_text commands."
    )


class CommandResult(ApiModel):
    command: str
    target: Literal["frontend", "intent", "server"]
    executed: bool = Field(
        description="True when the server ran it; else the client runs lab_command/intent."
    )
    lab_command: str | None = None
    intent: str | None = None
    result: Any = None


class ModelMetrics(ApiModel):
    model: str
    generations: int
    ttft_ms_p50: float | None
    tokens_per_s_avg: float | None


class MetricsPoint(ApiModel):
    at: datetime = Field(description="Start of the interval.")
    requests: int = Field(description="NEXUS API requests in the interval.")
    generations: int = Field(description="Model answers finished in the interval.")
    latency_ms_p50: float | None = Field(description="Median time of a whole model answer.")
    ttft_ms_p50: float | None = Field(description="Median time to the first token.")
    tokens_per_s: float | None = Field(description="Mean generation speed.")
    fallbacks: int = Field(
        description="Times a model failed (an error, an open circuit breaker, code that did not parse "
        "after its repair) and another model answered: the chat's `Fallback:` lines."
    )
    repairs: int = Field(
        description="Times a model was asked again to repair code that did not parse: the chat's "
        "`Repair:` lines.",
    )
    queue_pending: int = Field(description="Deepest queue of waiting background tasks in the interval.")
    queue_running: int


class MetricsSummary(ApiModel):
    requests: int
    errors: int
    error_rate: float
    latency_ms_p50: float | None
    latency_ms_p95: float | None
    active_users: int
    queue_pending: int
    queue_running: int
    fallbacks: int = Field(description="Fallbacks since this process started; see `MetricsPoint`.")
    repairs: int = Field(description="Repairs since this process started; see `MetricsPoint`.")
    memory_bytes: int | None
    gpu_memory_used_bytes: int | None
    models: list[ModelMetrics]
    series_interval_s: float = Field(description="Seconds per point of `series`.")
    series: list[MetricsPoint] = Field(
        description="The last half hour, oldest first, one point per interval."
    )


class AuditEventOut(ApiModel):
    id: int
    at: datetime
    username: str
    action: str
    resource: str
    outcome: str
    status_code: int | None
    request_id: str | None
    details: dict[str, Any]


class AuditList(ApiModel):
    events: list[AuditEventOut]
    retention_days: int
    log_prompts: bool
