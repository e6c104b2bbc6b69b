"""Every JSON payload of the NEXUS REST and websocket API, as pydantic models.

The OpenAPI document is generated from these models, and
``labextension/src/api.ts`` mirrors them: change both together.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints


class ApiModel(BaseModel):
    # defer_build: each model compiles its validator on first use, not when a server starts.
    model_config = ConfigDict(extra="forbid", defer_build=True)


class ErrorReply(ApiModel):
    """The body of every NEXUS error response."""

    error: str = Field(description="Machine-readable error code, e.g. `payload_too_large`.")
    message: str = Field(description="What went wrong, in words a person understands.")
    request_id: str = Field(description="Quote this id when reporting a problem; the server log has details.")


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


class TaskRouting(ApiModel):
    task: str
    chain: list[ModelRef]


class StatusReply(ApiModel):
    name: Literal["nexus"] = "nexus"
    version: str
    user: str
    storage: StorageStatus
    components: list[ComponentStatus]
    models: list[TaskRouting]


# -- conversations ----------------------------------------------------------------------------------
class ConversationCreate(ApiModel):
    title: str = Field(default="New conversation", min_length=1, max_length=200)
    notebook_path: str | None = Field(default=None, max_length=1024)


class ConversationUpdate(ApiModel):
    title: str = Field(min_length=1, max_length=200)


class MessageOut(ApiModel):
    id: str
    role: Literal["user", "assistant", "system"]
    content: str
    model: str | None = None
    provider: str | None = None
    author: str | None = Field(default=None, description="Who asked, in a notebook chat.")
    created_at: datetime


class ConversationOut(ApiModel):
    id: str
    title: str
    notebook_path: str | None
    shared: bool = Field(
        default=False, description="A notebook chat: everyone who can open the notebook sees it."
    )
    created_at: datetime
    updated_at: datetime
    message_count: int = 0


class ConversationDetail(ConversationOut):
    messages: list[MessageOut]


class ConversationList(ApiModel):
    conversations: list[ConversationOut]


# -- websocket frames -------------------------------------------------------------------------------
class PingFrame(ApiModel):
    type: Literal["ping"]
    id: str | None = Field(default=None, max_length=64)


class PongFrame(ApiModel):
    type: Literal["pong"] = "pong"
    id: str | None = None
    server_time: datetime


class ErrorFrame(ApiModel):
    type: Literal["error"] = "error"
    error: str
    message: str
    id: str | None = None


# -- websocket chat and completion protocol ---------------------------------------------------------
# Client -> server frames carry a client-chosen ``id``; every server frame about that request echoes it.
ContextKind = Literal[
    "cell", "neighbours", "selection", "error", "variables", "diagnostics", "file", "memories"
]


class ChatContext(ApiModel):
    """What the frontend knows about where the user is; the server's context manager fills in the rest."""

    notebook_path: str | None = Field(default=None, max_length=1024)
    cell_id: str | None = Field(default=None, max_length=128)
    selection: str | None = Field(default=None, max_length=20_000)
    kernel_id: str | None = Field(default=None, max_length=64)
    cursor_line: int | None = Field(
        default=None,
        ge=0,
        le=1_000_000,
        description="The cursor's line in the current cell or file (0-based): the language server is asked "
        "about the names on it.",
    )
    exclude: list[ContextKind] = Field(
        default_factory=list, description="Context chips the user removed before sending."
    )


class ChatFrame(ApiModel):
    type: Literal["chat"]
    id: str = Field(min_length=1, max_length=64)
    conversation_id: str | None = Field(default=None, max_length=32)
    text: str = Field(min_length=1, max_length=50_000)
    context: ChatContext = Field(default_factory=ChatContext)
    notebook: str | None = Field(
        default=None,
        min_length=1,
        max_length=1024,
        description="Post to this notebook's shared chat (seen live by everyone who can open the "
        "notebook) instead of a private conversation; `conversation_id` is then ignored.",
    )


class CancelFrame(ApiModel):
    type: Literal["cancel"]
    id: str = Field(
        min_length=1, max_length=64, description="The id of the chat or complete request to stop."
    )


class CompleteFrame(ApiModel):
    """Inline completion; a newer ``complete`` from the same socket cancels the previous one on the server."""

    type: Literal["complete"]
    id: str = Field(min_length=1, max_length=64)
    prefix: str = Field(max_length=20_000)
    suffix: str = Field(default="", max_length=20_000)
    language: str = Field(default="python", max_length=32)
    path: str | None = Field(default=None, max_length=1024)


class ContextItem(ApiModel):
    """One piece of context the answer used, shown to the user as a removable chip."""

    kind: ContextKind
    label: str
    preview: str = ""
    tokens: int = 0
    source: str | None = None


class Citation(ApiModel):
    source: str = Field(description="File path (or notebook path) the retrieved chunk came from.")
    lines: str | None = Field(default=None, description="Line range like `12-40`, for files.")
    cell_id: str | None = None
    score: float = 0.0


class ChatStartedFrame(ApiModel):
    type: Literal["chat.started"] = "chat.started"
    id: str
    conversation_id: str
    intent: str
    context: list[ContextItem] = Field(default_factory=list)
    author: str | None = Field(default=None, description="Who asked, in a notebook chat.")


class DeltaFrame(ApiModel):
    type: Literal["chat.delta", "complete.delta", "generate.delta"]
    id: str
    text: str


class RestartFrame(ApiModel):
    """The model that was answering failed part-way: discard the text so far, the answer restarts."""

    type: Literal["chat.restart", "generate.restart"] = "chat.restart"
    id: str
    reason: str
    failed_model: str
    next_model: str


class ChatDoneFrame(ApiModel):
    type: Literal["chat.done"] = "chat.done"
    id: str
    conversation_id: str
    message_id: str
    interaction_id: int | None = None
    model: str
    provider: str
    ttft_ms: float | None = None
    latency_ms: float = 0.0
    tokens_out: int = 0
    fallback_path: list[dict[str, Any]] = Field(default_factory=list)
    citations: list[Citation] = Field(default_factory=list)
    cancelled: bool = False


class CompleteDoneFrame(ApiModel):
    type: Literal["complete.done"] = "complete.done"
    id: str
    text: str
    model: str
    cancelled: bool = False


class MessageBroadcastFrame(ApiModel):
    """A message added to a conversation, sent to the user's other tabs (their room)."""

    type: Literal["conversation.message"] = "conversation.message"
    conversation_id: str
    message: MessageOut


class ServerEventFrame(ApiModel):
    """A NEXUS event (task progress, model fallback, voice command) relayed to the user's room."""

    type: Literal["event"] = "event"
    schema_id: str
    data: dict[str, Any]


class SlashCommandOut(ApiModel):
    name: str = Field(description="Typed as `/name` at the start of a chat message.")
    description: str
    source: Literal["nexus", "plugin-intent", "plugin-command"] = "nexus"


class SlashCommandList(ApiModel):
    commands: list[SlashCommandOut]


# -- notebook chats (collaboration) -----------------------------------------------------------------
NotebookAction = Literal["inserted", "replaced", "ran"]


class NotebookJoinFrame(ApiModel):
    """Follow a notebook's shared chat live (answered ``notebook.joined``, or ``error`` ``forbidden``)."""

    type: Literal["notebook.join"]
    path: str = Field(min_length=1, max_length=1024)


class NotebookLeaveFrame(ApiModel):
    type: Literal["notebook.leave"]
    path: str = Field(min_length=1, max_length=1024)


class NotebookActivityFrame(ApiModel):
    """Tell the notebook's collaborators what you did with an answer (inserted or ran its code)."""

    type: Literal["notebook.activity"]
    path: str = Field(min_length=1, max_length=1024)
    action: NotebookAction
    message_id: str | None = Field(default=None, max_length=32)
    cell_id: str | None = Field(default=None, max_length=64)


class NotebookJoinedFrame(ApiModel):
    type: Literal["notebook.joined"] = "notebook.joined"
    path: str
    conversation_id: str
    members: list[str] = Field(description="Display names of everyone following this notebook's chat.")


class NotebookMembersFrame(ApiModel):
    """Someone joined or left a notebook's chat."""

    type: Literal["notebook.members"] = "notebook.members"
    path: str
    members: list[str]


class NotebookActivityBroadcastFrame(ApiModel):
    type: Literal["notebook.activity"] = "notebook.activity"
    path: str
    author: str
    action: NotebookAction
    message_id: str | None = None
    cell_id: str | None = None


class NotebookCellInsert(ApiModel):
    """A cell NEXUS adds to a notebook on the server (a plugin command, a background task)."""

    path: str = Field(min_length=1, max_length=1024)
    source: str = Field(max_length=200_000)
    cell_type: Literal["code", "markdown"] = "code"
    index: int | None = Field(default=None, ge=0, description="Where to insert; the end when omitted.")
    model: str | None = Field(default=None, max_length=255, description="The model that wrote it, if any.")


class NotebookCellInserted(ApiModel):
    path: str
    cell_id: str
    index: int
    via: Literal["shared-document", "file"] = Field(
        description="`shared-document`: through the notebook's live collaborative document (everyone "
        "with it open sees the cell at once); `file`: the notebook was not open, the file was updated."
    )


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
    fallbacks: int = Field(description="Times a model failed and the next one in the chain answered.")
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
    fallbacks: int
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


# -- voice ------------------------------------------------------------------------------------------
VoiceTerm = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]


class TranscriptSegment(ApiModel):
    start: float = Field(description="Seconds from the start of the recording.")
    end: float
    text: str
    avg_logprob: float
    no_speech_prob: float


class VoiceCommandOut(ApiModel):
    """The command an utterance maps to; the client runs it (``lab_command``) or hands it to NEXUS."""

    name: str
    title: str
    target: Literal["frontend", "intent", "server"]
    lab_command: str | None = None
    intent: str | None = None
    text: str | None = Field(
        default=None, description="The rest of the utterance for 'generate ...'/'ask ...'."
    )
    destructive: bool = False
    source: str = "nexus"


class VoiceDecision(ApiModel):
    action: Literal["run", "confirm", "none"] = Field(
        description="`run`: do it; `confirm`: ask the user first; "
        "`none`: do nothing (silence, noise, no match)."
    )
    confidence: float = Field(ge=0.0, le=1.0)
    reason: str | None = Field(
        default=None,
        description="Why not `run`: destructive, low_confidence, ambiguous, no_speech, no_match.",
    )
    command: VoiceCommandOut | None = None
    alternatives: list[str] = Field(default_factory=list, description="Next-best command names.")


class TranscriptionReply(ApiModel):
    text: str
    segments: list[TranscriptSegment]
    language: str
    language_probability: float
    duration_s: float
    no_speech_prob: float
    timings_ms: dict[str, float] = Field(
        description="decode_ms, queue_ms, load_ms, transcribe_ms, map_ms, total_ms."
    )
    model: str
    command: VoiceDecision | None = Field(default=None, description="Absent when ?commands=false.")


class VoiceInterpretRequest(ApiModel):
    text: str = Field(min_length=0, max_length=2000, description="A transcript from any recogniser.")


class VoiceProfileIn(ApiModel):
    vocabulary: list[VoiceTerm] = Field(default_factory=list, max_length=200)
    hotwords: list[VoiceTerm] = Field(default_factory=list, max_length=50)
    language: str | None = Field(default=None, pattern=r"^[a-z]{2,3}(-[A-Za-z]{2,4})?$")


class VoiceProfileOut(VoiceProfileIn):
    updated_at: datetime | None = None


# -- ai engine --------------------------------------------------------------------------------------
GenerateTask = Literal["code_generation", "natural_language", "code_analysis"]


class GenerateContext(ApiModel):
    code: str | None = Field(default=None, max_length=100_000, description="The code the request is about.")
    error: str | None = Field(default=None, max_length=20_000, description="A traceback or error message.")
    notebook_path: str | None = Field(default=None, max_length=1024)


class GenerateRequest(ApiModel):
    task: GenerateTask = "code_generation"
    prompt: str = Field(min_length=1, max_length=20_000)
    context: GenerateContext = Field(default_factory=GenerateContext)
    language: str = Field(default="python", min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_+#.-]+$")
    max_tokens: int | None = Field(
        default=None, ge=1, le=8192, description="At most the task's configured limit."
    )


class RouteStep(ApiModel):
    provider: str
    model: str
    outcome: str = Field(
        description="ok | error | busy | invalid | repaired | unconfigured | blocked | circuit_open"
    )
    error: str | None = None
    retry_after_s: float | None = Field(
        default=None, description="With outcome busy: seconds after which the model is likely to have room."
    )


class GenerateReply(ApiModel):
    code: str
    explanation: str
    language: str
    valid: bool = Field(description="False when no model produced code that passes validation.")
    provider: str
    model: str
    outcome: str = Field(description="ok | fallback | invalid")
    fallback_path: list[RouteStep]
    interaction_id: int | None
    ttft_ms: float | None
    latency_ms: float
    tokens_out: int


class HistoryTurn(ApiModel):
    role: Literal["user", "assistant"]
    content: str = Field(max_length=50_000)


class GenerateFrame(ApiModel):
    """``/generate`` streamed over the websocket (the ``%nexus`` magics): the task's chain, no conversation.

    The client builds the prompt and context itself (a notebook kernel knows the error's facts);
    the server answers with ``generate.delta`` / ``generate.restart`` frames and one ``generate.done``.
    """

    type: Literal["generate"]
    id: str = Field(min_length=1, max_length=64)
    task: GenerateTask = "natural_language"
    prompt: str = Field(min_length=1, max_length=50_000)
    context: GenerateContext = Field(default_factory=GenerateContext)
    history: list[HistoryTurn] = Field(
        default_factory=list, max_length=20, description="Earlier turns of a conversation the client keeps."
    )
    language: str = Field(default="python", min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_+#.-]+$")
    max_tokens: int | None = Field(default=None, ge=1, le=8192)


class GenerateDoneFrame(ApiModel):
    type: Literal["generate.done"] = "generate.done"
    id: str
    text: str = Field(description="The whole answer (the deltas joined, after any restart).")
    model: str
    provider: str
    interaction_id: int | None = Field(description="Rate the answer with `POST /feedback`.")
    ttft_ms: float | None = None
    latency_ms: float = 0.0
    tokens_out: int = 0
    fallback_path: list[RouteStep] = Field(default_factory=list)
    cancelled: bool = False


class CompleteRequest(ApiModel):
    prefix: str = Field(max_length=100_000)
    suffix: str = Field(default="", max_length=100_000)
    language: str = Field(default="python", min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_+#.-]+$")
    path: str | None = Field(default=None, max_length=1024)
    max_tokens: int | None = Field(default=None, ge=1, le=512)


class CompleteReply(ApiModel):
    completion: str
    provider: str
    model: str
    interaction_id: int | None
    latency_ms: float


class ProviderHealthOut(ApiModel):
    state: Literal["closed", "open", "half_open"] = Field(description="The circuit breaker's state.")
    consecutive_failures: int
    successes: int
    failures: int
    latency_ms: float | None
    ttft_ms: float | None
    last_error: str | None


class ChainStepOut(ApiModel):
    provider: str
    model: str
    kind: str
    state: str = Field(description="usable | unconfigured | blocked | circuit_open | unknown_provider")
    health: ProviderHealthOut | None
    engine: dict[str, str | int | float | None] | None = Field(
        default=None, description="For local providers: state (loaded / loading / not loaded), device, queue."
    )


class TaskLimitsOut(ApiModel):
    timeout_s: float
    max_tokens: int
    latency_budget_ms: float


class TaskChainOut(ApiModel):
    task: str
    limits: TaskLimitsOut
    chain: list[ChainStepOut]
    preference: RoutingPreferenceOut | None = Field(
        default=None, description="The order the learning system tries the chain in now, and why."
    )


class ModelsReply(ApiModel):
    tasks: list[TaskChainOut]


# -- consciousness core: chat, memory, feedback -----------------------------------------------------
class ChatRequest(ApiModel):
    text: str = Field(min_length=1, max_length=50_000)
    conversation_id: str | None = Field(default=None, max_length=32)
    context: ChatContext = Field(default_factory=ChatContext)


class ChatReply(ApiModel):
    conversation_id: str
    message_id: str
    interaction_id: int | None
    intent: str
    answer: str
    model: str
    provider: str
    citations: list[Citation]
    context: list[ContextItem] = Field(description="The context the answer used (the chips the user sees).")
    latency_ms: float


class LearnRequest(ApiModel):
    path: str = Field(
        min_length=1,
        max_length=1024,
        description="A folder, file or glob under the server root, e.g. `src/**/*.py`.",
    )


class LearnProgressOut(ApiModel):
    id: str
    task_id: str | None = Field(
        default=None, description="The scheduler task running it: cancel with `POST /tasks/{task_id}/cancel`."
    )
    target: str
    state: Literal["pending", "running", "succeeded", "failed", "cancelled"]
    progress: float = Field(description="0..1")
    files_total: int
    files_done: int
    files_indexed: int
    files_unchanged: int
    files_removed: int
    chunks_added: int
    errors: list[str]


class MemoryHitOut(ApiModel):
    source: str
    lines: str | None
    cell_id: str | None
    score: float
    text: str


class MemorySearchReply(ApiModel):
    query: str
    results: list[MemoryHitOut]


class MemoryDeleteReply(ApiModel):
    removed: int = Field(description="How many chunks were forgotten.")


FeedbackKind = Literal["up", "down", "accepted", "rejected", "edited"]


class FeedbackRequest(ApiModel):
    interaction_id: int = Field(ge=1)
    kind: FeedbackKind = Field(description="Thumbs up/down, or what happened to inserted code.")
    comment: str = Field(default="", max_length=2000)
    edited_text: str = Field(
        default="", max_length=100_000, description="For `edited`: the code as the user left it."
    )


class FeedbackReply(ApiModel):
    id: int
    interaction_id: int
    kind: FeedbackKind
    example_saved: bool = Field(description="True when the answer now serves as a few-shot example.")


class RoutingPreferenceOut(ApiModel):
    order: list[ModelRef]
    changed: bool
    reason: str


# -- provider secrets -------------------------------------------------------------------------------
SecretScope = Literal["user", "server"]


class ProviderSecretIn(ApiModel):
    """A provider API key to store (encrypted); no response ever contains it again."""

    api_key: str = Field(
        min_length=1,
        max_length=4096,
        pattern=r"^[!-~]+$",
        description="The key as the provider issued it (printable ASCII, no spaces).",
    )


class ProviderSecretOut(ApiModel):
    provider: str
    scope: SecretScope = Field(description="`user`: the caller's own key; `server`: every user's.")
    set: bool
    updated_at: datetime | None = None


class ProviderSecretState(ApiModel):
    """Whether each kind of key is set for one provider of the routing file; never a key itself."""

    provider: str
    kind: str = Field(description="The provider kind from the routing file (`openai`, `anthropic`...).")
    user_key_set: bool
    user_key_updated_at: datetime | None = None
    server_key_set: bool
    server_key_updated_at: datetime | None = None
    environment_key_set: bool = Field(
        description="The routing file's `api_key` (usually an environment variable) is non-empty."
    )
    in_use: Literal["user", "server", "environment"] | None = Field(
        description="Whose key the caller's requests use: the own key, else the server-wide one, "
        "else the routing file's; null when the provider has none."
    )


class ProviderSecretList(ApiModel):
    providers: list[ProviderSecretState]
