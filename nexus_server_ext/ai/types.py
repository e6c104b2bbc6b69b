"""The vocabulary shared by providers, the router, the pipeline and the gateway.

A provider turns a ``GenerationRequest`` into a stream of ``Delta`` chunks (and,
when the request offers ``tools``, ``ToolCall``s) and one final ``Usage``; the
router turns those into the client-facing events ``Delta`` / ``Restart`` /
``Done`` (whose ``meta.tool_calls`` holds the calls the model made). Plain
dataclasses: cheap to import, and the chat core, the magics, the agent and the
gateway all speak them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple, TypedDict

Role = Literal["system", "user", "assistant", "tool"]

RouteOutcome = Literal[
    "ok",
    "error",
    "busy",
    "invalid",
    "repaired",
    "unconfigured",
    "blocked",
    "circuit_open",
    "unknown_provider",
]


class _RouteStepKeys(TypedDict):
    provider: str
    model: str
    outcome: RouteOutcome


class RouteStep(_RouteStepKeys, total=False):
    """One model the router tried for a request (``RouteStep`` in the API, ``IRouteStep`` in api.ts)."""

    error: str | None
    retry_after_s: float | None


@dataclass(frozen=True)
class ToolSpec:
    """A tool a model may call: its name, what it does, and a JSON schema of its arguments."""

    name: str
    description: str
    parameters: dict[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})


@dataclass(frozen=True)
class ToolCall:
    """One call a model made: ``arguments`` already parsed from the model's JSON (``{}`` if it sent none).

    ``error`` is set instead when the model's arguments were not a JSON object: the caller tells the
    model so, as the call's result, rather than running the tool."""

    id: str
    name: str
    arguments: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    type: Literal["tool_call"] = "tool_call"


@dataclass(frozen=True)
class ChatMessage:
    """One turn. An assistant turn may carry ``tool_calls``; a ``tool`` turn answers one of them
    (``tool_call_id``) with the tool's result as ``content``."""

    role: Role
    content: str
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None

    def as_dict(self) -> dict[str, str]:
        """The plain ``{role, content}`` of engines without tools (a tool turn reads as a user turn)."""
        if self.role == "tool":
            return {"role": "user", "content": f"Result of tool call {self.tool_call_id}:\n{self.content}"}
        if self.tool_calls:
            calls = "\n".join(f"[called {c.name}({c.arguments})]" for c in self.tool_calls)
            return {"role": self.role, "content": (self.content + "\n" + calls).strip()}
        return {"role": self.role, "content": self.content}


@dataclass
class GenerationRequest:
    """One call to one model. ``prompt`` (raw continuation) is used instead of ``messages`` when set."""

    messages: list[ChatMessage] = field(default_factory=list)
    prompt: str | None = None
    max_tokens: int = 256
    temperature: float = 0.0
    stop: list[str] = field(default_factory=list)
    repetition_penalty: float = 1.1  # > 1 discourages the loops small models fall into
    user: str = ""  # who asks: local engines queue fairly across users
    stop_loops: bool = True  # end the answer when the model starts repeating itself
    # The caller's stored API key for this provider (the secrets API); None: the routing file's key.
    api_key: str | None = field(default=None, repr=False)
    # Tools the model may call (the agent); a provider that cannot call tools answers in text.
    tools: list[ToolSpec] = field(default_factory=list)
    # A JSON schema the output must follow (engines that can constrain decoding: llama.cpp).
    json_schema: dict[str, Any] | None = None
    # Fill in the middle (inline completion): the text after the cursor, ``prompt`` being the text
    # before it. An engine whose model has a FIM template fills the middle; the others continue ``prompt``.
    suffix: str | None = None
    # Report each generated token's log-probability (``Usage.token_logprobs``) where the engine can.
    logprobs: bool = False


@dataclass(frozen=True)
class Delta:
    """A piece of generated text."""

    text: str
    type: Literal["delta"] = "delta"


class TokenLogprob(NamedTuple):
    """One generated token: its text and the natural log of the probability the model gave it."""

    text: str
    logprob: float


@dataclass(frozen=True)
class Usage:
    """The last item of a provider stream: token counts and why generation stopped.

    ``token_logprobs``: every generated token, in order (its texts joined are the generated text), when
    the request asked for them and the engine can tell (local llama.cpp); None otherwise."""

    tokens_in: int = 0
    tokens_out: int = 0
    finish_reason: str = "stop"
    token_logprobs: tuple[TokenLogprob, ...] | None = None


@dataclass(frozen=True)
class Restart:
    """The model that was streaming failed; discard the text received so far, the answer restarts."""

    failed_provider: str
    failed_model: str
    reason: str
    next_provider: str
    next_model: str
    type: Literal["restart"] = "restart"


@dataclass
class GenerationMeta:
    provider: str
    model: str
    text: str
    tokens_in: int = 0
    tokens_out: int = 0
    ttft_ms: float | None = None
    latency_ms: float = 0.0
    finish_reason: str = "stop"
    fallback_path: list[RouteStep] = field(default_factory=list)
    tool_calls: list[ToolCall] = field(default_factory=list)
    token_logprobs: tuple[TokenLogprob, ...] | None = None  # ``Usage.token_logprobs``


@dataclass(frozen=True)
class Done:
    meta: GenerationMeta
    type: Literal["done"] = "done"


Event = Delta | Restart | Done


class ProviderError(RuntimeError):
    """A model failed to answer. The message is safe to show: no URL, no key, no upstream body."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class NoModelAvailable(RuntimeError):
    """Every model in the chain failed or was skipped; ``path`` says what happened to each."""

    def __init__(self, task: str, path: list[RouteStep]) -> None:
        steps = "; ".join(f"{p['provider']}/{p['model']}: {p.get('error') or p['outcome']}" for p in path)
        super().__init__(f"no model could answer the {task} request ({steps or 'the chain is empty'})")
        self.task = task
        self.path = path
        # every model was busy rather than broken: when a retry is likely to be served
        busy = [float(p.get("retry_after_s") or 1.0) for p in path if p["outcome"] == "busy"]
        self.retry_after: float | None = min(busy) if busy else None

    @property
    def retry_after_header(self) -> str | None:
        """``Retry-After`` in whole seconds (at least 1) when every model was busy, else None."""
        return None if self.retry_after is None else str(max(1, math.ceil(self.retry_after)))
