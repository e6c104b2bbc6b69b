"""How the magics reach a model: through the Jupyter server that started the kernel, or in-process.

``ServerTransport`` calls the NEXUS REST API of the server that started this
kernel, with that server's own credentials (on JupyterHub, the user's API
token), so routing, rate limits and recorded interactions are the ones the chat
panel sees. ``InProcessTransport`` runs ``AIPipeline`` / ``ModelRouter`` from
``nexus_server_ext.ai`` on the embedded defaults, for plain IPython, nbclient
and scripts. ``choose_transport`` picks one; both yield the same events.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from .runner import runner

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


# -- in-process --------------------------------------------------------------------------------------
class InProcessTransport(Transport):
    """The engine inside the kernel (embedded defaults: the shipped routing, the bundled model)."""

    name = "in-process"

    def __init__(self, routing_file: str | None = None) -> None:
        from nexus_server_ext.ai.pipeline import AIPipeline
        from nexus_server_ext.ai.router import ModelRouter
        from nexus_server_ext.ai.routing import load_routing

        self.routing = load_routing(routing_file or os.environ.get("NEXUS_ROUTING_FILE") or None)
        self.router = ModelRouter(self.routing)
        self.pipeline = AIPipeline(self.router, None)
        self._warm: set[str] = set()

    def warm_up(self, task: str) -> None:
        """Load the local model before the first request that would use it.

        The router's per-task timeout covers the whole request; on a busy laptop the first load alone can
        take longer than that, so the kernel loads the model first and then asks.
        """
        if task in self._warm:
            return
        from nexus_server_ext.ai.providers.local import LocalProvider

        chain = self.router.usable_chain(task)
        if chain:
            provider = self.router.providers[chain[0].provider]
            if isinstance(provider, LocalProvider) and provider.engine.state != "loaded":
                with _quietly():
                    runner().run(provider.engine.ensure_loaded())
        self._warm.add(task)

    def _chain(self, task: str, model: str | None) -> Any:
        if not model:
            return None
        steps = {
            (s.provider, s.model): s
            for t in self.routing.tasks
            for s in self.routing.chain(t)
            if t != "embeddings"
        }
        chosen = [s for (p, m), s in steps.items() if model in (m, p, f"{p}/{m}", f"{p}:{m}")]
        if not chosen:
            raise TransportError(f"unknown model {model!r}; %nexus models lists the configured ones")
        return chosen[:1]

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
        from nexus_server_ext.ai.pipeline import build_messages
        from nexus_server_ext.ai.types import ChatMessage, Delta, Done, NoModelAvailable, Restart

        context = context or {}
        messages = build_messages(task, prompt, context, "python")
        earlier = [ChatMessage("user" if r == "user" else "assistant", t) for r, t in (history or [])]
        messages = [messages[0], *earlier, *messages[1:]]
        prov = Provenance(task, self.name, prompt_hash(task, prompt, context))
        chain = self._chain(task, model)
        self.warm_up(task)
        started = time.perf_counter()
        try:
            for event in runner().iterate(
                self.router.stream(task, messages, chain=chain, max_tokens=max_tokens)
            ):
                if isinstance(event, Delta):
                    yield AnswerEvent("delta", event.text)
                elif isinstance(event, Restart):
                    yield AnswerEvent("restart", event.reason)
                elif isinstance(event, Done):
                    meta = event.meta
                    prov.model, prov.provider = meta.model, meta.provider
                    prov.ttft_ms, prov.tokens_out = meta.ttft_ms, meta.tokens_out
                    prov.fallback_path = meta.fallback_path
                    prov.latency_ms = (time.perf_counter() - started) * 1000
                    RECENT.append(prov)
                    yield AnswerEvent("done", meta.text, prov)
        except NoModelAvailable as exc:
            raise TransportError(str(exc)) from None

    def generate(
        self,
        task: str,
        prompt: str,
        *,
        context: dict[str, Any] | None = None,
        model: str | None = None,
        max_tokens: int | None = None,
    ) -> CodeResult:
        from nexus_server_ext.ai.types import NoModelAvailable

        if model:
            raise TransportError("--model is not supported with generate: the routing chain decides")
        context = context or {}
        self.warm_up(task)
        try:
            result = runner().run(
                self.pipeline.generate(task, prompt, context=context, max_tokens=max_tokens)
            )
        except NoModelAvailable as exc:
            raise TransportError(str(exc)) from None
        prov = Provenance(
            task,
            self.name,
            prompt_hash(task, prompt, context),
            result.model,
            result.provider,
            result.latency_ms,
            result.ttft_ms,
            result.tokens_out,
            result.interaction_id,
            result.fallback_path,
        )
        RECENT.append(prov)
        return CodeResult(result.code, result.explanation, result.valid, prov)

    def models(self) -> dict[str, Any]:
        tasks = []
        for entry in self.router.describe():
            chain = [
                {
                    "provider": s["provider"],
                    "model": s["model"],
                    "kind": s["kind"],
                    "state": s["state"],
                    "health": asdict(s["health"]) if s["health"] else None,
                }
                for s in entry["chain"]
            ]
            tasks.append({"task": entry["task"], "limits": asdict(entry["limits"]), "chain": chain})
        return {"tasks": tasks}

    def status(self) -> dict[str, Any]:
        from nexus_server_ext import __version__
        from nexus_server_ext.ai.engines import loaded_engines

        return {
            "transport": self.name,
            "version": __version__,
            "engines": [e.describe() for e in loaded_engines()],
            "models": [r.model_dump() for r in self.routing.chains()],
        }


@contextlib.contextmanager
def _quietly() -> Iterator[None]:
    """Keep the model loaders' progress bars out of the user's cell output.

    transformers draws them with ``tqdm.auto`` (notebook widgets in a kernel); they say nothing a user
    needs and would be saved into the notebook. Only done for the main thread's magics: a widget answering
    on its own thread must not swallow what a running cell prints.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    from IPython.utils.capture import capture_output

    with capture_output(display=True):
        yield


# -- the Jupyter server ------------------------------------------------------------------------------
@dataclass(frozen=True)
class ServerInfo:
    url: str
    token: str
    pid: int | None = None


def _runtime_dirs() -> list[Path]:
    from jupyter_core.paths import jupyter_runtime_dir

    return [Path(jupyter_runtime_dir())]


def _ancestors(pid: int, depth: int = 1) -> list[int]:
    """The parent, and its parent (a kernel launched through a wrapper such as ``sh -c``).

    Linux reads ``/proc``; elsewhere only the direct parent is known. Going further up would mistake a
    Jupyter server that merely runs the terminal a script was started from for the kernel's server.
    """
    chain = [os.getppid()]
    for _ in range(depth):
        try:
            stat = Path(f"/proc/{chain[-1]}/stat").read_text()
            parent = int(stat.rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
        if parent <= 1:
            break
        chain.append(parent)
    return chain


def discover_server() -> ServerInfo | None:
    """The Jupyter server that started this kernel, or None.

    ``NEXUS_SERVER_URL`` (+ ``NEXUS_SERVER_TOKEN``) name one explicitly; otherwise the ``jpserver-<pid>.json``
    file of the nearest ancestor process is used. On JupyterHub the user's ``JUPYTERHUB_API_TOKEN`` is the
    credential (the single-user server's file holds no token there).
    """
    hub_token = os.environ.get("JUPYTERHUB_API_TOKEN", "")
    if os.environ.get("NEXUS_SERVER_URL"):
        url = os.environ["NEXUS_SERVER_URL"]
        return ServerInfo(
            url if url.endswith("/") else url + "/", os.environ.get("NEXUS_SERVER_TOKEN") or hub_token
        )
    for pid in _ancestors(os.getpid()):
        for folder in _runtime_dirs():
            info_file = folder / f"jpserver-{pid}.json"
            try:
                info = json.loads(info_file.read_text())
            except (OSError, ValueError):
                continue
            url = str(info.get("url") or "")
            if url:
                return ServerInfo(
                    url if url.endswith("/") else url + "/", info.get("token") or hub_token, pid
                )
    return None


def choose_transport(mode: str | None = None) -> Transport:
    """``NEXUS_TRANSPORT`` = auto (default) | server | in-process."""
    from .server_transport import ServerTransport

    mode = (mode or os.environ.get("NEXUS_TRANSPORT") or "auto").lower()
    if mode not in ("auto", "server", "in-process"):
        raise TransportError(f"NEXUS_TRANSPORT must be auto, server or in-process, not {mode!r}")
    if mode != "in-process":
        info = discover_server()
        if info is not None:
            transport = ServerTransport(info)
            if mode == "server" or transport.runs_nexus():
                return transport
        elif mode == "server":
            raise TransportError("no Jupyter server started this kernel (set NEXUS_SERVER_URL)")
    return InProcessTransport()


_SHARED: Transport | None = None


def shared_transport() -> Transport:
    """The kernel's one transport, shared by the magics and the widgets (chosen on first use)."""
    global _SHARED
    if _SHARED is None:
        _SHARED = choose_transport()
    return _SHARED
