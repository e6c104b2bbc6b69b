"""``AIPipeline``: route -> prepare context -> generate -> post-process -> validate -> repair or fall back.

The seed's pipeline, with one addition that matters in practice: every call,
good or bad, writes an ``interactions`` row (task, provider, model, TTFT,
latency, tokens, outcome, fallback path). That row is what the learning
system, the dashboards and the tests read.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncGenerator, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

from ..store.database import Database
from ..store.models import Interaction
from .postprocess import COMPLETION_STOP, CodeAnswer, clean_completion, extract_code, validate_code
from .router import ModelRouter
from .routing import ChainStep
from .types import ChatMessage, Delta, Done, GenerationMeta, NoModelAvailable, Restart

log = logging.getLogger(__name__)

CODE_TASKS = ("code_generation", "code_analysis")

SYSTEM_PROMPTS = {
    "code_generation": "You are NEXUS, a coding assistant inside Jupyter. Answer with one fenced "
    "```{language} code block that does what is asked, then at most two sentences of explanation.",
    "code_analysis": "You are NEXUS, a coding assistant inside Jupyter. Explain what the code does and "
    "point out bugs. If you propose a fix, put it in one fenced ```{language} code block.",
    "natural_language": "You are NEXUS, a helpful assistant inside Jupyter. Answer briefly and precisely.",
}


@dataclass
class GenerateResult:
    code: str
    explanation: str
    language: str
    valid: bool
    provider: str
    model: str
    outcome: str
    fallback_path: list[dict[str, Any]] = field(default_factory=list)
    interaction_id: int | None = None
    ttft_ms: float | None = None
    latency_ms: float = 0.0
    tokens_out: int = 0
    error: str | None = None


@dataclass
class Streamed:
    """The end of a streamed answer: what answered, how it went, and the recorded interaction."""

    meta: GenerationMeta
    fallback_path: list[dict[str, Any]]
    interaction_id: int | None
    latency_ms: float


@dataclass
class CompleteResult:
    completion: str
    provider: str
    model: str
    interaction_id: int | None
    latency_ms: float


def fell_back(path: list[dict[str, Any]]) -> bool:
    """True when a model that should have answered did not (skipping unconfigured ones is not a fallback)."""
    return any(p["outcome"] in ("error", "invalid", "circuit_open", "busy") for p in path)


def build_messages(task: str, prompt: str, context: dict[str, Any], language: str) -> list[ChatMessage]:
    """The context the model sees: a task system prompt, then the code / error / notebook the user is in."""
    system = SYSTEM_PROMPTS.get(task, SYSTEM_PROMPTS["natural_language"]).format(language=language)
    parts = []
    if context.get("notebook_path"):
        parts.append(f"Notebook: {context['notebook_path']}")
    if context.get("code"):
        parts.append(f"Current code:\n```{language}\n{context['code']}\n```")
    if context.get("error"):
        parts.append(f"Error:\n{context['error']}")
    parts.append(prompt)
    return [ChatMessage("system", system), ChatMessage("user", "\n\n".join(parts))]


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
        path: list[dict[str, Any]] = []
        messages = build_messages(task, prompt, context or {}, language)
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
                path[-1]["outcome"] = "invalid"
                path[-1]["error"] = problem
                repair = [
                    *messages,
                    ChatMessage("assistant", meta.text),
                    ChatMessage(
                        "user",
                        f"That code is invalid ({problem}). Reply with the corrected "
                        f"code only, in one ```{language} block.",
                    ),
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
                    path[-1]["outcome"] = "repaired"
                    answer = CodeAnswer(fixed.code, answer.explanation or fixed.explanation, language)
                    meta = repaired
                    break
                path[-1]["outcome"] = "invalid"
                path[-1]["error"] = problem
                tried = [*tried, *self._before(task, meta.provider), meta.provider]
        except NoModelAvailable as exc:
            if answer is None or meta is None:
                await self._record(task, None, path, "error", started, user_id, conversation_id, tokens_out)
                raise
            log.info("NEXUS %s: no valid answer from any model (%s)", task, exc)
        assert meta is not None and answer is not None
        outcome = "invalid" if problem else "fallback" if fell_back(path) else "ok"
        interaction_id = await self._record(
            task, meta, path, outcome, started, user_id, conversation_id, tokens_out
        )
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
        prompt: str,
        *,
        context: dict[str, Any] | None = None,
        history: Sequence[tuple[str, str]] = (),
        language: str = "python",
        max_tokens: int | None = None,
        user_id: int | None = None,
        chain: list[ChainStep] | None = None,
        owner: str = "",
    ) -> AsyncGenerator[Delta | Restart | Streamed, None]:
        """The answer as the model writes it (``Delta`` / ``Restart``), then one ``Streamed``.

        No validation or repair: a streamed answer is read, not run (``generate`` is the one that
        validates code). The interaction is recorded like ``generate``'s, so feedback can rate it.
        """
        started = time.perf_counter()
        path: list[dict[str, Any]] = []
        first, *rest = build_messages(task, prompt, context or {}, language)
        earlier = [ChatMessage("user" if role == "user" else "assistant", text) for role, text in history]
        messages = [first, *earlier, *rest]
        meta: GenerationMeta | None = None
        try:
            events = self.router.stream(
                task,
                messages,
                max_tokens=max_tokens,
                path=path,
                chain=chain,
                user=owner or str(user_id or ""),
            )
            async with aclosing(events) as answer:
                async for event in answer:
                    if isinstance(event, Done):
                        meta = event.meta
                    else:
                        yield event
        except NoModelAvailable:
            await self._record(task, None, path, "error", started, user_id, None, 0)
            raise
        assert meta is not None
        outcome = "fallback" if fell_back(path) else "ok"
        interaction_id = await self._record(
            task, meta, path, outcome, started, user_id, None, meta.tokens_out
        )
        yield Streamed(meta, path, interaction_id, (time.perf_counter() - started) * 1000)

    def _before(self, task: str, provider: str) -> list[str]:
        """Providers ahead of ``provider`` in the chain: a repair goes to the same model, not back."""
        names = [s.provider for s in self.router.routing.chain(task)]
        return names[: names.index(provider)] if provider in names else []

    async def complete(
        self,
        prefix: str,
        suffix: str = "",
        *,
        language: str = "python",
        path: str | None = None,
        max_tokens: int | None = None,
        user_id: int | None = None,
        owner: str = "",
    ) -> CompleteResult:
        """An inline completion at the cursor: a raw continuation of the prefix, cleaned up."""
        started = time.perf_counter()
        route: list[dict[str, Any]] = []
        header = f"# {path}\n" if path and language.lower() in ("python", "py") else ""
        try:
            meta = await self.router.generate(
                "completion",
                prompt=header + prefix[-4000:],
                max_tokens=max_tokens,
                stop=COMPLETION_STOP,
                path=route,
                user=owner or str(user_id or ""),
            )
        except NoModelAvailable:
            await self._record("completion", None, route, "error", started, user_id, None, 0)
            raise
        completion = clean_completion(meta.text, prefix, suffix)
        outcome = "fallback" if fell_back(route) else "ok"
        interaction_id = await self._record(
            "completion", meta, route, outcome, started, user_id, None, meta.tokens_out
        )
        return CompleteResult(
            completion, meta.provider, meta.model, interaction_id, (time.perf_counter() - started) * 1000
        )

    async def _record(
        self,
        task: str,
        meta: GenerationMeta | None,
        path: list[dict[str, Any]],
        outcome: str,
        started: float,
        user_id: int | None,
        conversation_id: str | None,
        tokens_out: int,
    ) -> int | None:
        if self.database is None:
            return None
        row = Interaction(
            user_id=user_id,
            conversation_id=conversation_id,
            task=task,
            provider=meta.provider if meta else None,
            model=meta.model if meta else None,
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
