"""``AIPipeline``: route -> prepare context -> generate -> post-process -> validate -> repair or fall back.

The seed's pipeline, with one addition that matters in practice: every call,
good or bad, writes an ``interactions`` row (task, provider, model, TTFT,
latency, tokens, outcome, fallback path). That row is what the learning
system, the dashboards and the tests read.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from ..store.database import Database
from ..store.models import Interaction
from .postprocess import COMPLETION_STOP, CodeAnswer, clean_completion, extract_code, validate_code
from .prompts import REPAIR_REQUEST, task_system_prompt
from .results import (
    CompleteResult,
    GenerateResult,
    RouteStep,
    Streamed,
    fell_back,
    mark,
    until,
)
from .router import ModelRouter
from .routing import ChainStep
from .types import ChatMessage, Delta, Done, GenerationMeta, NoModelAvailable, Restart

log = logging.getLogger(__name__)

CODE_TASKS = ("code_generation", "code_analysis")

__all__ = ["AIPipeline", "CompleteResult", "GenerateResult", "Streamed", "build_messages", "fell_back"]


def build_messages(task: str, prompt: str, context: dict[str, Any], language: str) -> list[ChatMessage]:
    """What the model sees: the task's system prompt, then the code / error / notebook the user is in."""
    parts = []
    if context.get("notebook_path"):
        parts.append(f"Notebook: {context['notebook_path']}")
    if context.get("code"):
        parts.append(f"Current code:\n```{language}\n{context['code']}\n```")
    if context.get("error"):
        parts.append(f"Error:\n{context['error']}")
    parts.append(prompt)
    system = task_system_prompt(task, language)
    return [ChatMessage("system", system), ChatMessage("user", "\n\n".join(parts))]


@dataclass
class Attempt:
    """What one model answer said (after any mid-stream restart) and how it ended."""

    parts: list[str] = field(default_factory=list)
    meta: GenerationMeta | None = None

    @property
    def text(self) -> str:
        return "".join(self.parts)


class AIPipeline:
    def __init__(self, router: ModelRouter, database: Database | None = None) -> None:
        self.router = router
        self.database = database

    async def generate(
        self,
        task: str,
        prompt: str,
        *,
        context: dict[str, Any] | None = None,
        language: str = "python",
        max_tokens: int | None = None,
        user_id: int | None = None,
        conversation_id: str | None = None,
        owner: str = "",
    ) -> GenerateResult:
        """Code and explanation for ``prompt``. Invalid code gets one repair attempt, then the next model.

        ``owner``: the caller's username (their stored API keys, their place in the engine's queue)."""
        user = owner or str(user_id or "")
        started = time.perf_counter()
        path: list[RouteStep] = []
        messages = build_messages(task, prompt, context or {}, language)
        record = partial(self._record, task, started=started, user_id=user_id)
        record = partial(record, conversation_id=conversation_id)
        tried: list[str] = []
        meta: GenerationMeta | None = None
        answer: CodeAnswer | None = None
        problem: str | None = None
        tokens_out = 0
        try:
            while True:
                meta = await self.router.generate(
                    task, messages, max_tokens=max_tokens, exclude=tried, path=path, user=user
                )
                tokens_out += meta.tokens_out
                answer = extract_code(meta.text, language)
                problem = validate_code(answer) if task == "code_generation" else None
                if problem is None:
                    break
                mark(path, "invalid", problem)
                repair = [
                    *messages,
                    ChatMessage("assistant", meta.text),
                    ChatMessage("user", REPAIR_REQUEST.format(problem=problem, language=language)),
                ]
                repaired = await self.router.generate(
                    task,
                    repair,
                    max_tokens=max_tokens,
                    exclude=[*tried, *self._before(task, meta.provider)],
                    path=path,
                    user=user,
                )
                tokens_out += repaired.tokens_out
                fixed = extract_code(repaired.text, language)
                problem = validate_code(fixed)
                if problem is None:
                    mark(path, "repaired")
                    answer = CodeAnswer(fixed.code, answer.explanation or fixed.explanation, language)
                    meta = repaired
                    break
                mark(path, "invalid", problem)
                tried = [*tried, *self._before(task, meta.provider), meta.provider]
        except NoModelAvailable as exc:
            if answer is None or meta is None:
                await record(None, path, "error", tokens_out)
                raise
            log.info("NEXUS %s: no valid answer from any model (%s)", task, exc)
        assert meta is not None and answer is not None
        outcome = "invalid" if problem else "fallback" if fell_back(path) else "ok"
        interaction_id = await record(meta, path, outcome, tokens_out)
        return GenerateResult(
            code=answer.code,
            explanation=answer.explanation,
            language=language,
            valid=problem is None,
            provider=meta.provider,
            model=meta.model,
            outcome=outcome,
            fallback_path=path,
            interaction_id=interaction_id,
            ttft_ms=meta.ttft_ms,
            latency_ms=(time.perf_counter() - started) * 1000,
            tokens_out=tokens_out,
            error=problem,
        )

    async def stream(
        self,
        task: str,
        prompt: str = "",
        *,
        messages: list[ChatMessage] | None = None,
        context: dict[str, Any] | None = None,
        history: Sequence[tuple[str, str]] = (),
        language: str = "python",
        max_tokens: int | None = None,
        user_id: int | None = None,
        chain: list[ChainStep] | None = None,
        owner: str = "",
        conversation_id: str | None = None,
        intent: str | None = None,
        cancel: asyncio.Event | None = None,
        repair: bool | None = None,
    ) -> AsyncGenerator[Delta | Restart | Streamed, None]:
        """The answer as the model writes it (``Delta`` / ``Restart``), then one ``Streamed``.

        The one streaming path: chat, the websocket ``generate`` frame and the kernel all use it.
        ``messages`` replaces the prompt built from ``prompt``/``context``/``history`` (the chat builds
        its own, with memories and facts). For ``code_generation`` (or ``repair=True``) an answer whose
        code does not parse gets one repair, streamed after a ``Restart`` (outcome ``repaired`` or
        ``invalid``). Setting ``cancel`` ends the answer at once (outcome ``cancelled``, ``meta`` None).
        Every answer, good, failed or cancelled, is recorded as an interaction.
        """
        started = time.perf_counter()
        path: list[RouteStep] = []
        if messages is None:
            first, *rest = build_messages(task, prompt, context or {}, language)
            earlier = [ChatMessage("user" if role == "user" else "assistant", t) for role, t in history]
            messages = [first, *earlier, *rest]
        repair = task == "code_generation" if repair is None else repair
        user = owner or str(user_id or "")
        record = partial(self._record, task, started=started, user_id=user_id, intent=intent)
        record = partial(record, conversation_id=conversation_id)
        attempt = Attempt()
        tokens_out = 0
        try:
            async for event in self._answer(task, messages, max_tokens, path, chain, user, cancel, attempt):
                yield event
            meta = attempt.meta
            problem = validate_code(extract_code(attempt.text, language)) if repair and meta else None
            if meta is not None and problem is not None:  # one repair, on the same model
                tokens_out += meta.tokens_out
                mark(path, "invalid", problem)
                yield Restart(
                    failed_provider=meta.provider,
                    failed_model=meta.model,
                    reason=f"invalid code: {problem}",
                    next_provider=meta.provider,
                    next_model=meta.model,
                )
                fix = [
                    *messages,
                    ChatMessage("assistant", attempt.text),
                    ChatMessage("user", REPAIR_REQUEST.format(problem=problem, language=language)),
                ]
                same = self._from(task, chain, meta)
                attempt = Attempt()
                async for event in self._answer(task, fix, max_tokens, path, same, user, cancel, attempt):
                    yield event
                meta = attempt.meta
                problem = validate_code(extract_code(attempt.text, language)) if meta else problem
                if meta is not None:
                    mark(path, "repaired" if problem is None else "invalid", problem)
        except NoModelAvailable:
            await record(None, path, "error", tokens_out)
            raise
        if meta is None:
            outcome = "cancelled"
        elif problem is not None:
            outcome = "invalid"
        else:
            outcome = "fallback" if fell_back(path) else "ok"
        tokens_out += meta.tokens_out if meta else 0
        interaction_id = await record(meta, path, outcome, tokens_out)
        latency = (time.perf_counter() - started) * 1000
        yield Streamed(meta, path, interaction_id, latency, outcome, attempt.text)

    async def _answer(
        self,
        task: str,
        messages: list[ChatMessage],
        max_tokens: int | None,
        path: list[RouteStep],
        chain: list[ChainStep] | None,
        user: str,
        cancel: asyncio.Event | None,
        attempt: Attempt,
    ) -> AsyncGenerator[Delta | Restart, None]:
        """One model answer: its events for the client, its text and meta into ``attempt``."""
        events = self.router.stream(task, messages, max_tokens=max_tokens, path=path, chain=chain, user=user)
        async with aclosing(events) as answer:
            async for event in until(answer, cancel) if cancel is not None else answer:
                if isinstance(event, Done):
                    attempt.meta = event.meta
                    continue
                if isinstance(event, Restart):
                    attempt.parts.clear()
                else:
                    attempt.parts.append(event.text)
                yield event

    def _from(self, task: str, chain: list[ChainStep] | None, meta: GenerationMeta) -> list[ChainStep]:
        """The chain from the model that answered on: a repair goes to the same model first."""
        steps = list(chain if chain is not None else self.router.routing.chain(task))
        at = next((i for i, s in enumerate(steps) if (s.provider, s.model) == (meta.provider, meta.model)), 0)
        return steps[at:]

    def _before(self, task: str, provider: str) -> list[str]:
        """Providers ahead of ``provider`` in the chain: a repair goes to the same model, not back."""
        names = [s.provider for s in self.router.routing.chain(task)]
        return names[: names.index(provider)] if provider in names else []

    async def complete_stream(
        self,
        prefix: str,
        suffix: str = "",
        *,
        language: str = "python",
        path: str | None = None,
        max_tokens: int | None = None,
        user_id: int | None = None,
        owner: str = "",
    ) -> AsyncGenerator[Delta | Restart | CompleteResult, None]:
        """An inline completion at the cursor as it is written, then the cleaned ``CompleteResult``.

        The one completion path: ``POST /complete`` and the websocket's ``complete`` frame. Recorded as
        an interaction like every other answer (a cancelled one too)."""
        started = time.perf_counter()
        route: list[RouteStep] = []
        record = partial(self._record, "completion", started=started, user_id=user_id)
        header = f"# {path}\n" if path and language.lower() in ("python", "py") else ""
        text: list[str] = []
        meta: GenerationMeta | None = None
        events = self.router.stream(
            "completion",
            prompt=header + prefix[-4000:],
            max_tokens=max_tokens,
            stop=COMPLETION_STOP,
            path=route,
            user=owner or str(user_id or ""),
        )
        try:
            async with aclosing(events) as answer:
                async for event in answer:
                    if isinstance(event, Done):
                        meta = event.meta
                        continue
                    text.clear() if isinstance(event, Restart) else text.append(event.text)
                    yield event
        except NoModelAvailable:
            await record(None, route, "error", 0)
            raise
        except (asyncio.CancelledError, GeneratorExit):  # superseded by the user's next keystroke
            await asyncio.shield(record(None, route, "cancelled", 0))
            raise
        assert meta is not None
        outcome = "fallback" if fell_back(route) else "ok"
        interaction_id = await record(meta, route, outcome, meta.tokens_out)
        completion = clean_completion("".join(text), prefix, suffix)
        latency = (time.perf_counter() - started) * 1000
        yield CompleteResult(completion, meta.provider, meta.model, interaction_id, latency)

    async def complete(self, prefix: str, suffix: str = "", **kwargs: Any) -> CompleteResult:
        """``complete_stream``'s result alone (``POST /complete``)."""
        async with aclosing(self.complete_stream(prefix, suffix, **kwargs)) as events:
            async for event in events:
                if isinstance(event, CompleteResult):
                    return event
        raise NoModelAvailable("completion", [])

    async def _record(
        self,
        task: str,
        meta: GenerationMeta | None,
        path: list[RouteStep],
        outcome: str,
        tokens_out: int,
        *,
        started: float,
        user_id: int | None,
        conversation_id: str | None = None,
        intent: str | None = None,
    ) -> int | None:
        """One ``interactions`` row: the learning system's, the dashboards' and the tests' raw material."""
        if self.database is None:
            return None
        answered = meta or next((p for p in reversed(path) if p["outcome"] == "ok"), None)
        row = Interaction(
            user_id=user_id,
            conversation_id=conversation_id,
            task=task,
            intent=intent,
            provider=meta.provider if meta else answered["provider"] if answered else None,  # type: ignore[index]
            model=meta.model if meta else answered["model"] if answered else None,  # type: ignore[index]
            ttft_ms=meta.ttft_ms if meta else None,
            latency_ms=(time.perf_counter() - started) * 1000,
            tokens_in=meta.tokens_in if meta else 0,
            tokens_out=tokens_out,
            outcome=outcome,
            fallback_path=[dict(p) for p in path],
        )

        def insert(session: Any) -> int:
            session.add(row)
            session.flush()
            return int(row.id)

        try:
            return await self.database.run(insert)
        except Exception:  # the answer still reaches the user when the database is down
            log.exception("NEXUS could not record an interaction")
            return None
