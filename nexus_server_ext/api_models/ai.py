"""The model API: generate, complete, the generate frame, the fallback path and the model chains."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from ..ai.types import RouteOutcome
from .base import ApiModel
from .memory import RoutingPreferenceOut

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
    outcome: RouteOutcome = Field(
        description="What happened to this model: `ok` answered, `repaired` answered after one repair of "
        "invalid code, `invalid` its code did not parse, `error`/`busy`/`circuit_open` failed or was "
        "skipped, `unconfigured`/`blocked`/`unknown_provider` could not be used."
    )
    error: str | None = None
    retry_after_s: float | None = Field(
        default=None, description="With outcome busy: seconds after which the model is likely to have room."
    )


class FixCheckOut(ApiModel):
    """A proposed fix's run in a scratch process (never the user's kernel) before it was offered."""

    status: Literal["verified", "failed", "unverified"] = Field(
        description="`verified` the fixed cell ran without raising (only then is `code` offered); `failed` "
        "it still raises; `unverified` it could not be run (a value not copyable, a file it writes, a limit)."
    )
    detail: str = Field(description="One sentence for the user: what the run showed.")
    seconds: float
    copied: list[str] = Field(description="The kernel's names the run had copies of.")
    not_copied: dict[str, str] = Field(description="Names the run could not copy, and why.")


class GenerateReply(ApiModel):
    code: str = Field(
        description="The proposed code. For a fix (a request with `context.error`): only a fix whose check "
        "run passed; '' when it failed or could not be checked (`check` says why)."
    )
    explanation: str
    language: str
    valid: bool = Field(description="False when no model produced code that passes validation.")
    provider: str
    model: str
    outcome: str = Field(
        description="ok | fallback | invalid | computed (a fix the error's facts settle, given without a "
        "model: provider `nexus`, model `error facts`)"
    )
    fallback_path: list[RouteStep]
    interaction_id: int | None
    ttft_ms: float | None
    latency_ms: float
    tokens_out: int
    check: FixCheckOut | None = Field(
        default=None, description="For a fix: its check run. None for other requests, or no code."
    )


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
    cells: list[Annotated[str, Field(max_length=20_000)]] = Field(
        default_factory=list,
        max_length=200,
        description="The notebook's earlier code cells, oldest first: the completion's context.",
    )
    max_tokens: int | None = Field(default=None, ge=1, le=512)


class CompleteReply(ApiModel):
    completion: str = Field(description="Empty when there is nothing to show (see `suppressed`).")
    provider: str
    model: str
    interaction_id: int | None
    latency_ms: float
    confidence: float | None = Field(
        default=None,
        description="The probability the model gave the least likely of the completion's tokens; null "
        "when the model reports no probabilities (remote APIs).",
    )
    suppressed: bool = Field(
        default=False,
        description="The model's suggestion was held back: its confidence was below the routing file's "
        "threshold for that model.",
    )


class ProviderProbeOut(ApiModel):
    """The last active probe of a remote provider (``ModelRouter.probe_interval_s``)."""

    ok: bool = Field(description="The server answered; false marks the provider down until a probe succeeds.")
    detail: str = Field(description="What it answered (`HTTP 200`) or why not (`connection refused`).")
    age_s: float = Field(description="Seconds since the probe.")


class ProviderHealthOut(ApiModel):
    state: Literal["closed", "open", "half_open"] = Field(description="The circuit breaker's state.")
    consecutive_failures: int
    successes: int
    failures: int
    latency_ms: float | None
    ttft_ms: float | None
    last_error: str | None
    probe: ProviderProbeOut | None = Field(
        default=None, description="The last active probe; null when the provider is not probed."
    )


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
