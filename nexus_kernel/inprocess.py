"""``InProcessTransport``: the magics' engine inside the kernel (plain IPython, nbclient, scripts).

It runs ``AIPipeline`` / ``ModelRouter`` from ``nexus_server_ext.ai`` on the
embedded defaults (the shipped routing, the bundled model) and keeps the
notebook's own memory of learned files and its own log of answers (interaction
ids for ``%nexus feedback`` and ``history``), since there is no server to keep them.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from dataclasses import asdict
from typing import Any

from .memory import NotebookMemory
from .runner import runner
from .transport import (
    RECENT,
    AnswerEvent,
    CodeResult,
    Found,
    Learned,
    LearnProgress,
    Provenance,
    Transport,
    TransportError,
    prompt_hash,
)


class InProcessTransport(Transport):
    """The engine inside the kernel (embedded defaults: the shipped routing, the bundled model)."""

    name = "in-process"

    def __init__(self, routing_file: str | None = None) -> None:
        from nexus_server_ext.ai.interactions import MemoryInteractions
        from nexus_server_ext.ai.pipeline import AIPipeline
        from nexus_server_ext.ai.router import ModelRouter
        from nexus_server_ext.ai.routing import load_routing
        from nexus_server_ext.ai.user_routing import current_routing_file, default_data_dir

        # as the server: NEXUS_ROUTING_FILE, else the model `jupyter nexus models pull` chose, else shipped
        chosen = os.environ.get("NEXUS_ROUTING_FILE") or current_routing_file(default_data_dir())
        self.routing = load_routing(routing_file or chosen or None)
        self.router = ModelRouter(self.routing)
        self.interactions = MemoryInteractions()  # this kernel's answers: ids to rate and to list
        self.pipeline = AIPipeline(self.router, self.interactions)
        self._warm: set[str] = set()
        self.memory = NotebookMemory()

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
        from nexus_server_ext.ai.results import Streamed
        from nexus_server_ext.ai.types import Delta, NoModelAvailable, Restart

        context = context or {}
        prov = Provenance(task, self.name, prompt_hash(task, prompt, context))
        chain = self._chain(task, model)
        self.warm_up(task)
        stream = self.pipeline.stream(  # the server's path: validation, repair and fallback included
            task, prompt, context=context, history=history or [], chain=chain, max_tokens=max_tokens
        )
        try:
            for event in runner().iterate(stream):
                if isinstance(event, Delta):
                    yield AnswerEvent("delta", event.text)
                elif isinstance(event, Restart):
                    yield AnswerEvent("restart", event.reason)
                elif isinstance(event, Streamed):
                    if event.meta is not None:
                        prov.model, prov.provider = event.meta.model, event.meta.provider
                        prov.ttft_ms, prov.tokens_out = event.meta.ttft_ms, event.meta.tokens_out
                    prov.fallback_path = [dict(p) for p in event.fallback_path]
                    prov.latency_ms, prov.interaction_id = event.latency_ms, event.interaction_id
                    RECENT.append(prov)
                    yield AnswerEvent("done", event.text, prov)
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
            [dict(p) for p in result.fallback_path],
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

    def learn(self, path: str, progress: LearnProgress | None = None) -> Learned:
        files, chunks = self.memory.learn(path, progress=progress)
        return Learned(files, chunks)

    def search(self, query: str, k: int = 5) -> list[Found]:
        return [
            Found(h.chunk.source, h.chunk.lines, h.score, h.chunk.text) for h in self.memory.search(query, k)
        ]

    def forget(self) -> str:
        self.memory.clear()
        return "the learned files"

    def feedback(self, prov: Provenance, kind: str) -> str:
        if self.interactions.rate(prov.interaction_id, kind) is None:  # computed, or long gone
            return "this kernel's history only (its interaction log does not hold that answer)"
        return f"this kernel's history, answer #{prov.interaction_id} (no NEXUS server records it)"

    def metrics(self) -> dict[str, Any]:
        from nexus_server_ext.metrics import summary

        return summary().model_dump(mode="json")


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
