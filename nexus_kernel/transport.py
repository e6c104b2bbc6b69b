"""How the magics reach a model: through the Jupyter server that started the kernel, or in-process.

``ServerTransport`` (``server_transport.py``) uses the NEXUS API of the server
that started this kernel, with that server's own credentials (on JupyterHub, the
user's API token): answers stream over its websocket, learned files go into the
user's one memory on the server, feedback reaches its learning system, and
routing, rate limits and recorded interactions are the ones the chat panel sees.
``InProcessTransport`` (``inprocess.py``) runs the engine inside the kernel on
the embedded defaults, for plain IPython, nbclient and scripts.
``choose_transport`` picks one; both yield the same events.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

TASKS = ("code_generation", "natural_language", "code_analysis")
# The provenance of this kernel's recent answers (either transport), for the model dashboard.
RECENT: deque[Provenance] = deque(maxlen=50)


class TransportError(RuntimeError):
    """A request failed; the message is one readable line (no URL token, no traceback)."""


@dataclass
class Provenance:
    """Where an answer came from; stored in the output's metadata under ``nexus``."""

    task: str
    transport: str
    prompt_hash: str
    model: str = ""
    provider: str = ""
    latency_ms: float = 0.0
    ttft_ms: float | None = None
    tokens_out: int = 0
    interaction_id: int | None = None
    fallback_path: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def cell_metadata(self) -> dict[str, Any]:
        """What the notebook keeps in the cell's ``metadata.nexus`` (the frontend copies it there)."""
        return {
            "model": self.model,
            "provider": self.provider,
            "prompt_id": self.prompt_hash,
            "interaction_id": self.interaction_id,
        }


@dataclass
class AnswerEvent:
    """``delta`` (more text), ``restart`` (discard the text so far) or ``done`` (with provenance)."""

    kind: Literal["delta", "restart", "done"]
    text: str = ""
    provenance: Provenance | None = None


@dataclass
class CodeResult:
    code: str
    explanation: str
    valid: bool
    provenance: Provenance


@dataclass
class Found:
    """A learned chunk that matches a search, wherever the memory lives."""

    source: str
    lines: str | None
    score: float
    text: str


# progress(done, total, message) while learning: %nexus learn's progress bar
LearnProgress = Callable[[int, int, str], None]


@dataclass
class Learned:
    files: int
    chunks: int
    unchanged: int = 0
    problems: list[str] = field(default_factory=list)


def prompt_hash(task: str, prompt: str, context: dict[str, Any]) -> str:
    """A stable short id of what was asked, so two outputs can be told apart without storing the prompt."""
    data = json.dumps([task, prompt, context], sort_keys=True, default=str)
    return hashlib.sha256(data.encode()).hexdigest()[:16]


class Transport(ABC):
    name: str

    @abstractmethod
    def stream(
        self,
        task: str,
        prompt: str,
        *,
        context: dict[str, Any] | None = None,
        history: list[tuple[str, str]] | None = None,
        model: str | None = None,
        max_tokens: int | None = None,
    ) -> Iterator[AnswerEvent]:
        """The answer as it is generated; the last event is ``done``."""

    @abstractmethod
    def generate(
        self,
        task: str,
        prompt: str,
        *,
        context: dict[str, Any] | None = None,
        model: str | None = None,
        max_tokens: int | None = None,
    ) -> CodeResult:
        """Validated code (the pipeline repairs or falls back on code that does not parse)."""

    @abstractmethod
    def models(self) -> dict[str, Any]:
        """The ``/models`` document: chain per task with each step's state and health."""

    @abstractmethod
    def status(self) -> dict[str, Any]:
        """What answers the magics and how healthy it is."""

    @abstractmethod
    def learn(self, path: str, progress: LearnProgress | None = None) -> Learned:
        """Index a file or folder into the memory ``ask`` / ``chat`` / ``search`` read;
        ``progress(done, total, message)`` follows it file by file (the notebook's progress bar)."""

    @abstractmethod
    def search(self, query: str, k: int = 5) -> list[Found]:
        """The learned chunks closest in meaning to ``query``, best first."""

    @abstractmethod
    def forget(self) -> str:
        """``%nexus clear``: drop what this transport learned; says what happened to the memory."""

    @abstractmethod
    def feedback(self, prov: Provenance, kind: str) -> str:
        """Rate an answer (``up`` / ``down``); says where the rating went."""

    def metrics(self) -> dict[str, Any]:
        """The ``/metrics/summary`` document (numbers now and their recent series)."""
        raise TransportError("metrics need a NEXUS server")


@dataclass(frozen=True)
class ServerInfo:
    """A Jupyter server a kernel can reach (``discovery.discover_server``)."""

    url: str
    token: str
    pid: int | None = None
