"""``AIPipeline``: route -> prepare context -> generate -> post-process -> validate -> repair or fall back.

One streaming path (``stream``) carries the one repair-and-fallback rule; ``generate`` collects it.
Every answer, good or bad, is recorded as one interaction (task, provider, model, TTFT, latency,
tokens, outcome, fallback path) through an ``InteractionLog`` (``interactions.py``): the database's
``interactions`` table on the server, which the learning system, the dashboards and the tests read.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

from ..store.database import Database
from .completion import completion_prompt, confidence
from .interactions import DatabaseInteractions, InteractionLog, describe
from .postprocess import CodeAnswer, extract_code, validate_code
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
    shown: bool = False  # it reached the client (after its ``Restart``, if it had one)
    repairs: Attempt | None = None  # the answer it repairs, whose explanation it keeps

    @property
    def text(self) -> str:
        return "".join(self.parts)


class AIPipeline:
    """The one way to a model: chat, REST, the websocket, the kernel and the helpers all come here.

    ``interactions``: a ``Database`` (one ``interactions`` row per answer), any ``InteractionLog``
    (the kernel's in-memory one), or None (nothing is recorded)."""

    def __init__(self, router: ModelRouter, interactions: Database | InteractionLog | None = None) -> None:
        self.router = router
        if isinstance(interactions, Database):
            interactions = DatabaseInteractions(interactions)
        self.interactions: InteractionLog | None = interactions

    async def generate(
        self,
        task: str,
        prompt: str = "",
        *,
        messages: list[ChatMessage] | None = None,
        context: dict[str, Any] | None = None,
        language: str = "python",
        max_tokens: int | None = None,
        user_id: int | None = None,
        conversation_id: str | None = None,
        owner: str = "",
        chain: list[ChainStep] | None = None,
        intent: str | None = None,
        repair: bool | None = None,
    ) -> GenerateResult:
        """The whole answer at once: ``stream()`` collected, so both follow one repair-and-fallback rule.

        ``owner``: the caller's username (their stored API keys, their place in the engine's queue).
        Raises ``NoModelAvailable`` when no model answered at all."""
        events = self.stream(
            task,
            prompt,
            messages=messages,
            context=context,
            language=language,
            max_tokens=max_tokens,
            user_id=user_id,
            chain=chain,
            owner=owner,
            conversation_id=conversation_id,
            intent=intent,
            repair=repair,
        )
        end: Streamed | None = None
        async with aclosing(events) as answer:
            async for event in answer:
                if isinstance(event, Streamed):
                    end = event
        assert end is not None and end.meta is not None and end.answer is not None  # nothing cancels it
        return GenerateResult(
            code=end.answer.code,
            explanation=end.answer.explanation,
            language=language,
            valid=end.error is None,
            provider=end.meta.provider,
            model=end.meta.model,
            outcome=end.outcome,
            fallback_path=end.fallback_path,
            interaction_id=end.interaction_id,
            ttft_ms=end.meta.ttft_ms,
            latency_ms=end.latency_ms,
            tokens_out=end.tokens_out,
            error=end.error,
            text=end.text,
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

        ``messages`` replaces the prompt built from ``prompt``/``context``/``history`` (the chat builds
        its own, with memories and facts). For ``code_generation`` (or ``repair=True``) an answer whose
        code does not parse gets one repair on the same model, after a ``Restart``; if the repair does
        not parse either, the next model in the chain answers the question (another ``Restart``), and so
        on until the code parses or the chain ends, when the last answer stands (outcome ``invalid``).
        A ``Restart`` is sent only once the next answer starts, so a model that never answers leaves
        the text the client has. Setting ``cancel`` ends the answer at once (outcome ``cancelled``,
        ``meta`` None). Every answer, good, failed, invalid or cancelled, records one interaction.
        """
        started = time.perf_counter()
        path: list[RouteStep] = []
        if messages is None:
            first, *rest = build_messages(task, prompt, context or {}, language)
            earlier = [ChatMessage("user" if role == "user" else "assistant", t) for role, t in history]
            messages = [first, *earlier, *rest]
        repair = task == "code_generation" if repair is None else repair
        record = partial(self._record, task, started=started, user_id=user_id, intent=intent)
        record = partial(record, conversation_id=conversation_id)
        ask = partial(self._answer, task, max_tokens, path, owner or str(user_id or ""), cancel)
        steps = list(chain if chain is not None else self.router.routing.chain(task))
        attempt = original = shown = Attempt()
        problem: str | None = None
        tokens_out = 0
        try:
            async for event in ask(messages, chain, attempt):
                yield event
            tokens_out += attempt.meta.tokens_out if attempt.meta else 0
            problem = self._problem(attempt, language) if repair and attempt.meta else None
            while attempt.meta is not None and problem is not None:
                failed = attempt.meta
                mark(path, "invalid", problem)
                if attempt is original:  # one repair, on the same model
                    why = f"invalid code: {problem}"
                    fix = [
                        *messages,
                        ChatMessage("assistant", attempt.text),
                        ChatMessage("user", REPAIR_REQUEST.format(problem=problem, language=language)),
                    ]
                    attempt = Attempt(repairs=original)
                    notice = Restart(failed.provider, failed.model, why, failed.provider, failed.model)
                    async for event in ask(fix, self._steps(steps, failed), attempt, notice):
                        yield event
                else:  # the repair did not parse either: the next model answers the question
                    following = self._steps(steps, original.meta or failed, after=True)
                    if not following:
                        break
                    notice = Restart(failed.provider, failed.model, f"invalid code: {problem}", "", "")
                    attempt = original = Attempt()
                    async for event in ask(messages, following, attempt, notice):
                        yield event
                shown = attempt if attempt.shown else shown
                tokens_out += attempt.meta.tokens_out if attempt.meta else 0
                problem = self._problem(attempt, language) if attempt.meta else problem
                if attempt.meta is not None and attempt.repairs is not None and problem is None:
                    mark(path, "repaired")
        except NoModelAvailable as exc:
            if shown.meta is None:
                await record(None, path, "error", tokens_out)
                raise
            log.info("NEXUS %s: no other model could answer (%s); the last answer stands", task, exc)
            if attempt.shown:  # the client discarded the standing answer for one that then failed
                yield Delta(shown.text)
            attempt = shown
        meta = attempt.meta  # None: cancelled (the text the client has stands)
        if meta is None:
            outcome = "cancelled"
        elif problem is not None:
            outcome = "invalid"
        else:
            outcome = "fallback" if fell_back(path) else "ok"
        interaction_id = await record(meta, path, outcome, tokens_out)
        latency = (time.perf_counter() - started) * 1000
        answer = extract_code(shown.text, language)
        if shown.repairs is not None:
            kept = extract_code(shown.repairs.text, language).explanation
            answer = CodeAnswer(answer.code, kept or answer.explanation, language)
        yield Streamed(meta, path, interaction_id, latency, outcome, shown.text, answer, problem, tokens_out)

    async def _answer(
        self,
        task: str,
        max_tokens: int | None,
        path: list[RouteStep],
        user: str,
        cancel: asyncio.Event | None,
        messages: list[ChatMessage],
        chain: list[ChainStep] | None,
        attempt: Attempt,
        notice: Restart | None = None,
    ) -> AsyncGenerator[Delta | Restart, None]:
        """One model answer: its events for the client, its text and meta into ``attempt``.

        ``notice`` (the previous answer was invalid) goes out just before this answer's first event,
        naming the model that is writing it, and is counted as the chat shows it (``_count``)."""
        steps = chain if chain is not None else self.router.routing.chain(task)
        before = len(path)
        events = self.router.stream(task, messages, max_tokens=max_tokens, path=path, chain=chain, user=user)
        async with aclosing(events) as answer:
            async for event in until(answer, cancel) if cancel is not None else answer:
                if not attempt.shown and notice is not None:  # the step writing it: past those in ``path``
                    at = min(len(path) - before, len(steps) - 1)
                    now = event.meta if isinstance(event, Done) else steps[at]
                    told = replace(notice, next_provider=now.provider, next_model=now.model)
                    self._count(task, told, path[before:])
                    yield told
                attempt.shown = True
                if isinstance(event, Done):
                    attempt.meta = event.meta
                    continue
                if isinstance(event, Restart):
                    attempt.parts.clear()
                else:
                    attempt.parts.append(event.text)
                yield event

    @staticmethod
    def _count(task: str, notice: Restart, tried: list[RouteStep]) -> None:
        """The dashboard counts what the chat shows: the same model asked again is a "Repair:" line,
        another model answering instead a "Fallback:" line. ``tried``: this answer's route so far; the
        router counts a model that failed there (asked to repair, it failed outright) itself."""
        from ..metrics import record_fallback, record_repair

        failed = (notice.failed_provider, notice.failed_model)
        if (notice.next_provider, notice.next_model) == failed:
            record_repair(task, notice.failed_model)
        elif not any(
            (p["provider"], p["model"]) == failed and p["outcome"] in ("error", "circuit_open") for p in tried
        ):
            record_fallback(task, notice.failed_model, notice.next_model)

    @staticmethod
    def _problem(attempt: Attempt, language: str) -> str | None:
        return validate_code(extract_code(attempt.text, language))

    @staticmethod
    def _steps(steps: list[ChainStep], meta: GenerationMeta, after: bool = False) -> list[ChainStep]:
        """The chain from the model that answered (a repair goes to it first), or after it (the next one)."""
        at = next(
            (i for i, s in enumerate(steps) if (s.provider, s.model) == (meta.provider, meta.model)), None
        )
        if at is None:
            return [] if after else steps
        return steps[at + 1 :] if after else steps[at:]

    async def complete_stream(
        self,
        prefix: str,
        suffix: str = "",
        *,
        language: str = "python",
        path: str | None = None,
        cells: Sequence[str] = (),
        max_tokens: int | None = None,
        user_id: int | None = None,
        owner: str = "",
    ) -> AsyncGenerator[Delta | Restart | CompleteResult, None]:
        """An inline completion at the cursor, then the cleaned ``CompleteResult`` (``completion.py``).

        The one completion path: ``POST /complete`` and the websocket's ``complete`` frame. ``cells``:
        the notebook's earlier code cells. With the routing file's gate on, the text is held until the
        model has finished (a suggestion below the threshold must never flash up), and a suppressed one
        is an empty completion, recorded with outcome ``suppressed``; with it off the text streams.
        Recorded as an interaction like every other answer (a cancelled one too)."""
        from ..metrics import record_completion

        started = time.perf_counter()
        route: list[RouteStep] = []
        record = partial(self._record, "completion", started=started, user_id=user_id)
        gate = self.router.routing.completion_gate()
        prompt = completion_prompt(prefix, suffix, cells=cells, path=path, language=language)
        text: list[str] = []
        meta: GenerationMeta | None = None
        events = self.router.stream(
            "completion",
            prompt=prompt.text,
            suffix=prompt.suffix,
            max_tokens=max_tokens,
            stop=prompt.stop,
            logprobs=True,
            repetition_penalty=1.0,  # code repeats its names: a penalty makes the model avoid them
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
                    if not gate.enabled:
                        yield event
        except NoModelAvailable:
            await record(None, route, "error", 0)
            raise
        except (asyncio.CancelledError, GeneratorExit):  # superseded by the user's next keystroke
            await asyncio.shield(record(None, route, "cancelled", 0))
            raise
        assert meta is not None
        raw = "".join(text)
        completion = prompt.clean(raw)
        score = confidence(meta.token_logprobs, raw, completion)
        suppressed = bool(completion) and not gate.shows(meta.model, score)
        if suppressed:
            completion = ""
            outcome = "suppressed"
        else:
            outcome = "fallback" if fell_back(route) else "ok"
        interaction_id = await record(meta, route, outcome, meta.tokens_out)
        record_completion(meta.model, "suppressed" if suppressed else "shown" if completion else "empty")
        latency = (time.perf_counter() - started) * 1000
        yield CompleteResult(
            completion, meta.provider, meta.model, interaction_id, latency, score, suppressed
        )

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
        **who: Any,
    ) -> int | None:
        """One interaction record (``describe``); ``who``: started, user_id, conversation_id, intent."""
        if self.interactions is None:
            return None
        return await self.interactions.record(describe(task, meta, path, outcome, tokens_out, **who))
