"""``ModelRouter``: walk a task's chain (primary -> fallback -> local) until a model answers.

The router is the one place that knows about health: it skips unconfigured
providers, steps blocked by the admin policy and providers whose circuit
breaker is open; it enforces the task's timeout; and it turns a failure
part-way through a stream into a ``Restart`` event, so a client that shows
tokens as they arrive can wipe them and never shows a mix of two models.

The public API the chat core, the magics and the gateway use::

    async for event in router.stream("natural_language", messages, max_tokens=200):
        match event:  # Delta(text) | Restart(...) | Done(meta)
            ...

Its circuit-breaker settings are ``c.ModelRouter.failure_threshold`` and
``c.ModelRouter.cooldown_s`` (a provider in the routing file may set its own), and so
are those of the active probe that feeds the same breakers (``probe.py``):
``c.ModelRouter.probe_interval_s`` and ``probe_timeout_s``; ``NexusApp.router_class``
replaces the class.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable, Mapping
from contextlib import aclosing
from typing import Any, cast

from traitlets import Float, Int
from traitlets.config import LoggingConfigurable

from .breaker import ProviderHealth
from .engines.base import EngineBusy
from .providers import Provider, build_providers
from .routing import ChainStep, RoutingConfig
from .types import (
    ChatMessage,
    Delta,
    Done,
    Event,
    GenerationMeta,
    GenerationRequest,
    NoModelAvailable,
    ProviderError,
    Restart,
    RouteOutcome,
    RouteStep,
    ToolCall,
    ToolSpec,
    Usage,
)

log = logging.getLogger(__name__)

# username -> {provider: API key} stored for that user (their own, else the server-wide one).
KeyLookup = Callable[[str], Awaitable[dict[str, str]]]


class ModelRouter(LoggingConfigurable):
    failure_threshold = Int(
        3,
        help="Consecutive failures after which a model provider is skipped (its circuit breaker opens); "
        "a provider's own failure_threshold in the routing file wins.",
    ).tag(config=True)

    cooldown_s = Float(
        30.0,
        help="Seconds an open circuit breaker waits before letting one trial request through; "
        "a provider's own cooldown_s in the routing file wins.",
    ).tag(config=True)

    probe_interval_s = Float(
        0.0,
        help="Seconds between active health probes of each remote provider (GET /models: no tokens "
        "spent); a provider whose probe gets no answer is skipped until a probe succeeds. 0 (the "
        "default) turns probing off; a provider's own probe_interval_s in the routing file wins.",
    ).tag(config=True)

    probe_timeout_s = Float(
        5.0, help="Seconds a health probe waits for a provider's answer before marking it down."
    ).tag(config=True)

    def __init__(
        self, routing: RoutingConfig, providers: dict[str, Provider] | None = None, **kwargs: Any
    ) -> None:
        """``kwargs``: ``parent``/``config``, or the settings themselves (``failure_threshold=5``)."""
        super().__init__(**kwargs)
        self.routing = routing
        self.providers = providers if providers is not None else build_providers(routing.providers)
        self.health: dict[str, ProviderHealth] = {
            name: ProviderHealth(
                int(routing.providers.get(name, {}).get("failure_threshold") or self.failure_threshold),
                float(routing.providers.get(name, {}).get("cooldown_s", self.cooldown_s)),
            )
            for name in self.providers
        }
        # API keys stored through the secrets API (``store/secrets.py``, set once the store exists);
        # a stored key takes precedence over the routing file's ``api_key`` (an environment variable).
        self.key_lookup: KeyLookup | None = None
        from ..metrics import track_router  # its breakers on /metrics

        track_router(self)

    async def keys_for(self, user: str) -> dict[str, str]:
        """The stored API keys that apply to ``user``'s requests (none when the store is unreachable)."""
        if self.key_lookup is None:
            return {}
        try:
            return await self.key_lookup(user)
        except Exception as exc:  # the routing file's keys still work without the database
            log.warning("NEXUS could not read stored provider keys: %s", exc)
            return {}

    # -- the chain ----------------------------------------------------------------------------------
    def step_state(self, step: ChainStep, keys: Mapping[str, str] | None = None) -> str:
        """usable | unconfigured | blocked | unknown_provider | circuit_open (without taking a trial).

        ``keys``: stored API keys by provider (``keys_for``), which configure a provider too."""
        provider = self.providers.get(step.provider)
        if provider is None:
            return "unknown_provider"
        if self.routing.blocked_reason(step.provider, step.model):
            return "blocked"
        key = (keys or {}).get(step.provider)
        if not (provider.configured(key) if key else provider.configured()):
            return "unconfigured"
        if self.health[step.provider].state == "open":
            return "circuit_open"
        return "usable"

    def usable_chain(
        self, task: str, exclude: Iterable[str] = (), keys: Mapping[str, str] | None = None
    ) -> list[ChainStep]:
        skip = set(exclude)
        return [
            s
            for s in self.routing.chain(task)
            if s.provider not in skip and self.step_state(s, keys) == "usable"
        ]

    # -- streaming ----------------------------------------------------------------------------------
    async def stream(
        self,
        task: str,
        messages: list[ChatMessage] | None = None,
        *,
        prompt: str | None = None,
        max_tokens: int | None = None,
        temperature: float = 0.0,
        stop: list[str] | None = None,
        user: str = "",
        exclude: Iterable[str] = (),
        path: list[RouteStep] | None = None,
        chain: list[ChainStep] | None = None,
        tools: list[ToolSpec] | None = None,
        json_schema: dict[str, Any] | None = None,
        suffix: str | None = None,
        logprobs: bool = False,
        repetition_penalty: float | None = None,
    ) -> AsyncGenerator[Event, None]:
        """Events for one answer: ``Delta``s, a ``Restart`` per mid-stream failure, then one ``Done``.

        Raises ``NoModelAvailable`` when every step failed or was skipped. ``exclude`` names providers
        not to use (the pipeline's "fall back after invalid output"); ``path`` accumulates what
        happened to each step, so a caller can record the whole route across several calls;
        ``chain`` replaces the task's chain (the gateway serving one model directly) but keeps its limits.
        ``tools``: what the model may call; the calls it makes end up in ``Done.meta.tool_calls``.
        ``suffix``, ``logprobs``, ``repetition_penalty``: see ``GenerationRequest`` (inline completion);
        the token probabilities of the model that answered end up in ``Done.meta.token_logprobs``.
        """
        limits = self.routing.limits(task)
        request = GenerationRequest(
            messages=list(messages or []),
            prompt=prompt,
            max_tokens=min(max_tokens or limits.max_tokens, limits.max_tokens),
            temperature=temperature,
            stop=list(stop or []),
            user=user,
            tools=list(tools or []),
            json_schema=json_schema,
            suffix=suffix,
            logprobs=logprobs,
        )
        if repetition_penalty is not None:
            request.repetition_penalty = repetition_penalty
        path = path if path is not None else []
        before = len(path)  # a caller's earlier calls (a repair, the next model) were counted then
        skip = set(exclude)
        full = chain if chain is not None else self.routing.chain(task)
        steps = [s for s in full if s.provider not in skip]
        keys = await self.keys_for(user)
        for index, step in enumerate(steps):
            state = self.step_state(step, keys)
            if state == "usable" and not self.health[step.provider].allow():
                state = "circuit_open"
            if state != "usable":
                skipped = cast(RouteOutcome, state)
                path.append({"provider": step.provider, "model": step.model, "outcome": skipped})
                continue
            health = self.health[step.provider]
            try:
                await self.providers[step.provider].prepare()
            except ProviderError as exc:
                health.record_failure(str(exc))
                path.append(
                    {"provider": step.provider, "model": step.model, "outcome": "error", "error": str(exc)}
                )
                continue
            except BaseException:
                health.release_trial()
                raise
            started = time.perf_counter()
            ttft: float | None = None
            text: list[str] = []
            calls: list[ToolCall] = []
            usage = Usage()
            try:
                step_request = dataclasses.replace(request, api_key=keys.get(step.provider))
                async with aclosing(self.providers[step.provider].stream(step.model, step_request)) as items:
                    deadline = started + limits.timeout_s
                    while True:
                        remaining = deadline - time.perf_counter()
                        if remaining <= 0:
                            raise ProviderError(
                                f"{step.provider}: timed out after {limits.timeout_s:g} s", status=504
                            )
                        try:
                            item = await asyncio.wait_for(items.__anext__(), remaining)
                        except StopAsyncIteration:
                            raise ProviderError(f"{step.provider}: the stream ended without usage") from None
                        except asyncio.TimeoutError:
                            raise ProviderError(
                                f"{step.provider}: timed out after {limits.timeout_s:g} s", status=504
                            ) from None
                        if isinstance(item, Usage):
                            usage = item
                            break
                        if isinstance(item, ToolCall):
                            calls.append(item)
                            continue
                        if ttft is None:
                            ttft = (time.perf_counter() - started) * 1000
                        text.append(item.text)
                        yield Delta(item.text)
            except EngineBusy as exc:  # overload is not a fault: the breaker stays closed
                health.release_trial()
                path.append(
                    {
                        "provider": step.provider,
                        "model": step.model,
                        "outcome": "busy",
                        "error": str(exc),
                        "retry_after_s": exc.retry_after,
                    }
                )
                if text:  # busy part-way (a model server that died mid-answer): take the text back
                    yield self._restart(step, str(exc), steps[index + 1 :], keys)
                continue
            except ProviderError as exc:
                health.record_failure(str(exc))
                path.append(
                    {"provider": step.provider, "model": step.model, "outcome": "error", "error": str(exc)}
                )
                log.warning("NEXUS %s: %s/%s failed: %s", task, step.provider, step.model, exc)
                if text:
                    yield self._restart(step, str(exc), steps[index + 1 :], keys)
                continue
            except BaseException:  # the client went away (cancel / close): no verdict on the provider
                health.release_trial()
                raise
            latency = (time.perf_counter() - started) * 1000
            if usage.finish_reason == "cancelled":
                health.release_trial()
            else:
                health.record_success(latency, ttft)
            path.append({"provider": step.provider, "model": step.model, "outcome": "ok"})
            _record_metrics(task, step, path[before:], ttft, latency, usage)
            if usage.finish_reason != "cancelled":
                _record_answer(task, "ok")
            yield Done(
                GenerationMeta(
                    provider=step.provider,
                    model=step.model,
                    text="".join(text),
                    tokens_in=usage.tokens_in,
                    tokens_out=usage.tokens_out,
                    ttft_ms=ttft,
                    latency_ms=latency,
                    finish_reason=usage.finish_reason,
                    fallback_path=path,
                    tool_calls=calls,
                    token_logprobs=usage.token_logprobs,
                )
            )
            return
        failure = NoModelAvailable(task, path)
        _record_answer(task, "failed" if failure.retry_after is None else "busy")
        raise failure

    def _next_usable(self, steps: list[ChainStep], keys: Mapping[str, str]) -> ChainStep | None:
        return next((s for s in steps if self.step_state(s, keys) == "usable"), None)

    def _restart(
        self, failed: ChainStep, why: str, rest: list[ChainStep], keys: Mapping[str, str]
    ) -> Restart:
        """A model failed part-way through its answer: its text is taken back, and who answers next."""
        following = self._next_usable(rest, keys)
        return Restart(
            failed.provider,
            failed.model,
            why,
            following.provider if following else "",
            following.model if following else "",
        )

    async def generate(
        self, task: str, messages: list[ChatMessage] | None = None, **kwargs: Any
    ) -> GenerationMeta:
        """The whole answer at once (the text of the model that finished, never a mix)."""
        async with aclosing(self.stream(task, messages, **kwargs)) as events:
            async for event in events:
                if isinstance(event, Done):
                    return event.meta
        raise NoModelAvailable(
            task, kwargs.get("path") or []
        )  # pragma: no cover - stream always ends in Done

    def describe(self, keys: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
        """The chain per task with each step's state and its provider's health (for ``/models``);
        ``keys``: the caller's stored API keys (``keys_for``)."""
        out = []
        for task in self.routing.tasks:
            limits = self.routing.limits(task)
            chain = []
            for step in self.routing.chain(task):
                provider = self.providers.get(step.provider)
                snap = self.health[step.provider].snapshot() if step.provider in self.health else None
                chain.append(
                    {
                        "provider": step.provider,
                        "model": step.model,
                        "kind": provider.kind if provider else "unknown",
                        "state": self.step_state(step, keys),
                        "health": snap,
                        "detail": provider.describe() if provider else {},
                    }
                )
            out.append({"task": task, "limits": limits, "chain": chain})
        return out

    async def aclose(self) -> None:
        for provider in self.providers.values():
            await provider.aclose()


def _record_answer(task: str, outcome: str) -> None:
    """How an answer ended, for the error-rate alert (``deploy/prometheus/nexus-alerts.rules.yml``)."""
    from ..metrics import record_answer

    record_answer(task, outcome)


def _record_metrics(
    task: str,
    step: ChainStep,
    path: list[RouteStep],
    ttft_ms: float | None,
    latency_ms: float,
    usage: Usage,
) -> None:
    """Feed the performance monitor: TTFT and speed of the model that answered, and a fallback to it
    from each model of this call's ``path`` that failed or whose breaker was open: the models the chat
    names in its "Fallback:" lines (a ``busy`` model, overloaded, is not named, nor counted)."""
    from ..metrics import record_fallback, record_generation

    generating_s = max(latency_ms - (ttft_ms or 0.0), 1.0) / 1000
    record_generation(
        step.model, (ttft_ms or latency_ms) / 1000, usage.tokens_out / generating_s, latency_ms / 1000
    )
    answered = (step.provider, step.model)
    failed = {
        (p["provider"], p["model"]): p["model"]
        for p in path[:-1]
        if p.get("outcome") in ("error", "circuit_open") and (p["provider"], p["model"]) != answered
    }
    for model in failed.values():
        record_fallback(task, model, step.model)
