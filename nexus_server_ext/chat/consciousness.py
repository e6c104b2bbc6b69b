"""``ConsciousnessCore``: one chat request, end to end, as a stream of protocol frames.

intent -> conversation -> context (cells, kernel, diagnostics, memories) ->
few-shot examples -> model stream (chain ordered by the learning system) ->
store messages and the interaction -> frames. Asked to explain or fix an error the
kernel just raised, the answer starts with that error's facts (``error_facts``),
which no model wrote, and the model is told them. The websocket relays the frames
as they come; ``POST /chat`` collects them. Cancelling is cooperative (an
``asyncio.Event``): the model stream is closed, the partial answer is stored and
a ``chat.done`` with ``cancelled: true`` ends the request, so nothing is left
half-written.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator
from contextlib import aclosing
from dataclasses import replace
from typing import Any

from pydantic import BaseModel

from ..ai.pipeline import AIPipeline
from ..ai.results import Streamed
from ..ai.router import ModelRouter
from ..ai.types import Delta, NoModelAvailable, Restart
from ..api_models import (
    ChatDoneFrame,
    ChatFrame,
    ChatStartedFrame,
    Citation,
    ContextItem,
    DeltaFrame,
    ErrorFrame,
    MessageBroadcastFrame,
    MessageOut,
    RestartFrame,
    RouteStep,
)
from ..store.conversations import ConversationNotFound, ConversationStore
from ..store.database import Database
from ..context.manager import ContextBundle, ContextManager
from .intent import Intent, IntentClassifier
from ..memory.learn_tasks import LearnJobs
from ..ai.learning import LearningSystem
from .local_answers import DEFAULT_REQUEST, answer_locally, author_meta
from ..memory.vector_memory import VectorMemory
from .plugin_answers import PluginAnswers
from .prompts import TASK_FOR_INTENT, build_messages, sources_footer

log = logging.getLogger(__name__)

FACT_INTENTS = ("explain", "fix")  # intents whose answer starts with the kernel error's facts


class ConsciousnessCore:
    def __init__(
        self,
        *,
        database: Database,
        conversations: ConversationStore,
        router: ModelRouter,
        pipeline: AIPipeline,
        classifier: IntentClassifier,
        context: ContextManager,
        memory: VectorMemory | None,
        learn_jobs: LearnJobs | None,
        learning: LearningSystem,
        max_tokens: int | None = None,
        examples: int = 2,
        plugins: PluginAnswers | None = None,
        root_dir: str = "",
    ) -> None:
        self.database = database
        self.conversations = conversations
        self.router = router
        self.pipeline = pipeline  # the one path to the models: validation, repair, fallback, records
        self.classifier = classifier
        self.context = context
        self.memory = memory
        self.learn_jobs = learn_jobs
        self.learning = learning
        self.max_tokens = max_tokens
        self.examples = examples
        self.plugins = plugins
        self.root_dir = root_dir
        if plugins is not None:
            plugins.teach(classifier)

    async def warm_up(self) -> None:
        """Load what the first question needs besides the model (the intent embedder, the vector
        memory) so that it costs nothing more than generation. Called when JupyterLab first connects.
        Language servers are not started here: they start with the first question about code, at a
        lower CPU priority, so they never compete with the model for the first answer."""
        await asyncio.to_thread(self.classifier.scores, "warm up")
        if self.memory is not None:
            await self.memory.asearch("", "warm up", 1)

    async def process(
        self,
        owner: str,
        user_id: int,
        frame: ChatFrame,
        cancel: asyncio.Event | None = None,
        author: str | None = None,
    ) -> AsyncGenerator[BaseModel, None]:
        """Answer ``frame``. With ``frame.notebook`` set the chat is that notebook's shared chat (the
        caller has checked that ``owner`` may open the notebook) and ``author`` names who asked."""
        cancel = cancel or asyncio.Event()
        called = self.plugins.command_call(frame.text, self.classifier.slash) if self.plugins else None
        if called is not None:  # "/word-count some text": a plugin's server command
            intent = Intent("command", called[1], command=called[0].name)
        else:
            intent = await self.classifier.classify(frame.text)
        try:
            conversation_id = await self._conversation(user_id, frame)
        except ConversationNotFound:
            yield ErrorFrame(error="not_found", message="There is no conversation with this id.", id=frame.id)
            return
        call = called[0] if called else self.plugins.intent_call(intent) if self.plugins else None
        if call is not None:
            async for out in answer_locally(
                self, owner, user_id, frame, intent, conversation_id, author, call
            ):
                yield out
            return
        described = self.plugins.description(intent.name) if self.plugins else None
        if described and intent.text:  # a plugin intent the model answers: tell it what the intent is for
            intent = replace(intent, text=f"{described}\n\n{intent.text}")
        if not intent.text and intent.name in DEFAULT_REQUEST:  # "/explain" alone: about the current cell
            intent = replace(intent, text=DEFAULT_REQUEST[intent.name])
        if intent.name in ("command", "learn") or not intent.text:
            async for out in answer_locally(self, owner, user_id, frame, intent, conversation_id, author):
                yield out
            return
        async for out in self._answer(owner, user_id, frame, intent, conversation_id, cancel, author):
            yield out

    async def _conversation(self, user_id: int, frame: ChatFrame) -> str:
        if frame.notebook:
            return (await self.conversations.notebook_chat(frame.notebook, user_id)).id
        if frame.conversation_id:
            await self.conversations.get(user_id, frame.conversation_id)  # ownership check
            return frame.conversation_id
        title = " ".join(frame.text.split())[:60] or "New conversation"
        return (await self.conversations.create(user_id, title, frame.context.notebook_path)).id

    async def _store(
        self, user_id: int, frame: ChatFrame, conversation_id: str, role: str, content: str, **kw: Any
    ) -> MessageOut:
        message = await self.conversations.add_message(
            user_id, conversation_id, role, content, shared_path=frame.notebook, **kw
        )
        return MessageOut.model_validate(message, from_attributes=True)

    async def _answer(
        self,
        owner: str,
        user_id: int,
        frame: ChatFrame,
        intent: Intent,
        conversation_id: str,
        cancel: asyncio.Event,
        author: str | None,
    ) -> AsyncGenerator[BaseModel, None]:
        started = time.perf_counter()
        task = TASK_FOR_INTENT.get(intent.name, "natural_language")
        history = [
            (m.role, m.content)
            for m in await self.conversations.model_history(user_id, conversation_id, frame.notebook)
        ]
        bundle, examples, user_msg = await asyncio.gather(  # side by side: each waits on I/O or a thread
            self.context.gather(owner, intent.text, frame.context),
            self._examples(owner, intent.text),
            self._store(
                user_id,
                frame,
                conversation_id,
                "user",
                frame.text,
                meta={"intent": intent.name, **author_meta(author)},
            ),
        )
        yield ChatStartedFrame(
            id=frame.id,
            conversation_id=conversation_id,
            intent=intent.name,
            context=self._chips(bundle),
            author=author,
        )
        yield MessageBroadcastFrame(conversation_id=conversation_id, message=user_msg)
        facts = bundle.facts if intent.name in FACT_INTENTS else None
        messages = build_messages(intent.name, intent.text, bundle, examples, history, facts)
        lead = facts.render_markdown() + "\n\n" if facts else ""  # shown before the model's words
        preference = await self.learning.preference(task)
        if lead:
            yield DeltaFrame(type="chat.delta", id=frame.id, text=lead)
        end: Streamed | None = None
        error: str | None = None
        try:
            stream = self.pipeline.stream(
                task,
                messages=messages,
                max_tokens=self.max_tokens,
                chain=preference.order,
                owner=owner,
                user_id=user_id,
                conversation_id=conversation_id,
                intent=intent.name,
                cancel=cancel,
            )
            async with aclosing(stream) as events:
                async for event in events:
                    if isinstance(event, Delta):
                        yield DeltaFrame(type="chat.delta", id=frame.id, text=event.text)
                    elif isinstance(event, Restart):  # a model failed part-way, or its code is repaired
                        yield RestartFrame(
                            id=frame.id,
                            reason=event.reason,
                            failed_model=event.failed_model,
                            next_model=event.next_model,
                        )
                        if lead:  # the frontend drops the text so far: the facts come again
                            yield DeltaFrame(type="chat.delta", id=frame.id, text=lead)
                    else:
                        end = event
        except NoModelAvailable as exc:
            error = str(exc)
        if error or end is None:
            yield ErrorFrame(error="no_model_available", message=error or "No model answered.", id=frame.id)
            return
        meta, path = end.meta, end.fallback_path
        cancelled = meta is None
        answer = lead + end.text
        if meta is not None and bundle.hits:
            footer = sources_footer(bundle.hits)
            answer += footer
            yield DeltaFrame(type="chat.delta", id=frame.id, text=footer)
        step = next((p for p in reversed(path) if p["outcome"] in ("ok", "repaired")), None)
        provider = meta.provider if meta else step["provider"] if step else ""
        model = meta.model if meta else step["model"] if step else ""
        citations = [
            Citation(source=h.source, lines=h.lines, cell_id=h.cell_id, score=h.score) for h in bundle.hits
        ]
        reply = await self._store(
            user_id,
            frame,
            conversation_id,
            "assistant",
            answer,
            model=model or None,
            provider=provider or None,
            meta={
                "interaction_id": end.interaction_id,
                "intent": intent.name,
                "cancelled": cancelled,
                "citations": [c.model_dump() for c in citations],
                # accepted answers used as few-shot examples (their interaction ids): explainable learning
                "examples": [e.metadata.get("interaction_id") for e in examples],
            },
        )
        yield MessageBroadcastFrame(conversation_id=conversation_id, message=reply)
        yield ChatDoneFrame(
            id=frame.id,
            conversation_id=conversation_id,
            message_id=reply.id,
            interaction_id=end.interaction_id,
            model=model,
            provider=provider,
            ttft_ms=meta.ttft_ms if meta else None,
            latency_ms=(time.perf_counter() - started) * 1000,
            tokens_out=meta.tokens_out if meta else 0,
            fallback_path=[RouteStep(**p) for p in path],
            citations=citations,
            cancelled=cancelled,
        )

    async def _examples(self, owner: str, text: str) -> list[Any]:
        if self.memory is None or self.examples <= 0:
            return []
        try:
            return await self.memory.asearch_examples(owner, text, self.examples)
        except Exception as exc:
            log.warning("NEXUS: examples memory unavailable: %s", exc)
            return []

    @staticmethod
    def _chips(bundle: ContextBundle) -> list[ContextItem]:
        return [
            ContextItem(kind=p.kind, label=p.label, preview=p.text[:200], tokens=p.tokens, source=p.source)  # type: ignore[arg-type]
            for p in bundle.pieces
        ]
