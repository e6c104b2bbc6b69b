"""``ConsciousnessCore``: one chat request, end to end, as a stream of protocol frames.

intent -> conversation -> context (cells, kernel, diagnostics, memories) ->
few-shot examples -> model stream (chain ordered by the learning system) ->
store messages (``Transcript``) and the interaction -> frames. Commands,
``/learn`` and plugins are answered without a model (``local_answers``). Asked to explain or fix an error the
kernel just raised, the answer starts with that error's facts (``diagnosis``),
which no model wrote, and the model is told them; a ``/fix`` the facts settle is
answered with the computed fix, no model asked. The websocket relays the frames
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
from traitlets import Int
from traitlets.config import LoggingConfigurable

from ..ai.engines.sources import is_bundled
from ..ai.learning import LearningSystem
from ..ai.pipeline import AIPipeline
from ..ai.postprocess import extract_code
from ..ai.results import Streamed
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
    RestartFrame,
    RouteStep,
    SlashCommandOut,
)
from ..context.manager import ContextBundle, ContextManager
from ..diagnosis.service import COMPUTED_MODEL, COMPUTED_PROVIDER, Diagnosed, Diagnosis
from ..memory.learn_tasks import LearnJobs
from ..memory.vector_memory import VectorMemory
from ..store.conversations import ConversationNotFound, ConversationStore
from .intent import Intent, IntentClassifier, about_error
from .local_answers import answer_locally, reply
from .plugin_answers import PluginAnswers
from .prompts import TASK_FOR_INTENT, build_messages, sources_footer
from .transcript import Transcript

log = logging.getLogger(__name__)

FACT_INTENTS = ("explain", "fix")  # intents whose answer starts with the kernel error's facts


class ConsciousnessCore(LoggingConfigurable):
    max_tokens = Int(0, help="Tokens a chat answer may have (0: the task's limit in the routing file).").tag(
        config=True
    )
    examples = Int(
        2, help="Accepted answers to similar requests shown to the model as few-shot examples (0: none)."
    ).tag(config=True)

    def __init__(
        self,
        *,
        conversations: ConversationStore,
        pipeline: AIPipeline,
        classifier: IntentClassifier,
        context: ContextManager,
        learning: LearningSystem,
        diagnosis: Diagnosis | None = None,
        memory: VectorMemory | None = None,
        learn_jobs: LearnJobs | None = None,
        plugins: PluginAnswers | None = None,
        root_dir: str = "",
        **kwargs: Any,
    ) -> None:
        """Collaborators as arguments; ``kwargs``: ``parent``/``config`` or the settings."""
        super().__init__(**kwargs)
        self.conversations = conversations
        self.pipeline = pipeline  # the one path to the models: validation, repair, fallback, records
        self.classifier = classifier
        self.context = context
        self.diagnosis = diagnosis or Diagnosis(context)
        self.memory = memory
        self.learn_jobs = learn_jobs
        self.learning = learning
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

    def slash_commands(self) -> list[SlashCommandOut]:
        """Every slash command this chat understands: NEXUS's, plugin intents', plugin commands'."""
        commands = [
            SlashCommandOut(name=c.name, description=c.help, source=c.source)  # type: ignore[arg-type]
            for c in self.classifier.commands
        ]
        if self.plugins is not None:
            commands += [
                SlashCommandOut(name=name, description=description, source="plugin-command")
                for name, description in self.plugins.slash_commands(self.classifier.slash)
            ]
        return commands

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
            transcript = await Transcript.open(self.conversations, user_id, frame, author)
        except ConversationNotFound:
            yield ErrorFrame(error="not_found", message="There is no conversation with this id.", id=frame.id)
            return
        call = called[0] if called else self.plugins.intent_call(intent) if self.plugins else None
        described = self.plugins.description(intent.name) if self.plugins else None
        if described and intent.text and call is None:  # a plugin intent the model answers: say what for
            intent = replace(intent, text=f"{described}\n\n{intent.text}")
        if not intent.text and call is None:  # "/explain" alone: about the current cell
            intent = replace(intent, text=self.classifier.commands.default_request(intent.name))
        if call is not None or intent.name in ("command", "learn") or not intent.text:
            answers = answer_locally(
                transcript,
                intent,
                owner=owner,
                commands=self.classifier.commands,
                learn_jobs=self.learn_jobs,
                root_dir=self.root_dir,
                call=call,
            )
        else:
            answers = self._answer(owner, transcript, intent, cancel)
        async with aclosing(answers) as frames:
            async for out in frames:
                yield out

    async def _answer(
        self, owner: str, transcript: Transcript, intent: Intent, cancel: asyncio.Event
    ) -> AsyncGenerator[BaseModel, None]:
        """Context, memories and examples, then the model's answer streamed (or, for ``/fix`` of an
        error its facts settle, the computed fix)."""
        started = time.perf_counter()
        frame = transcript.frame
        task = TASK_FOR_INTENT.get(intent.name, "natural_language")
        history = await transcript.history()
        context = frame.context
        if not about_error(frame.text):  # the kernel's last error goes with a question about it only
            context = context.model_copy(update={"exclude": [*context.exclude, "error"]})
        bundle, examples, user_msg = await asyncio.gather(  # side by side: each waits on I/O or a thread
            self.context.gather(owner, intent.text, context),
            self._examples(owner, intent.text),
            transcript.add("user", frame.text, meta={"intent": intent.name}),
        )
        yield ChatStartedFrame(
            id=frame.id,
            conversation_id=transcript.conversation_id,
            intent=intent.name,
            context=self._chips(bundle),
            author=transcript.author,
        )
        yield MessageBroadcastFrame(conversation_id=transcript.conversation_id, message=user_msg)
        diagnosed: Diagnosed | None = None
        where = {"notebook_path": context.notebook_path, "kernel_id": context.kernel_id}  # a fix's check
        if intent.name in FACT_INTENTS and bundle.facts is not None:
            diagnosed = await self.diagnosis.diagnose(facts=bundle.facts, fix=intent.name == "fix", **where)
        if diagnosed is not None and diagnosed.fix is not None:  # the facts settle it: no model needed
            answer = diagnosed.computed_answer()
            async for out in reply(
                transcript, answer, model=COMPUTED_MODEL, provider=COMPUTED_PROVIDER, intent=intent.name
            ):
                yield out
            return
        messages = build_messages(
            intent.name, intent.text, bundle, examples, history, diagnosed.facts if diagnosed else None
        )
        # shown before the model's words: a busy kernel's note, the error's facts
        lead = bundle.kernel_note + (diagnosed.lead + "\n\n" if diagnosed else "")
        chain = (await self.learning.preference(task)).order
        if lead:
            yield DeltaFrame(type="chat.delta", id=frame.id, text=lead)
        end: Streamed | None = None
        error: str | None = None
        # A fix is shown once it has been run (``diagnosis.offer``): its words are held back until then.
        hold = intent.name == "fix"
        try:
            stream = self.pipeline.stream(
                task,
                messages=messages,
                max_tokens=self.max_tokens or None,
                chain=chain,
                owner=owner,
                user_id=transcript.user_id,
                conversation_id=transcript.conversation_id,
                intent=intent.name,
                cancel=cancel,
            )
            async with aclosing(stream) as events:
                async for event in events:
                    if isinstance(event, Delta):
                        if not hold:
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
        if hold:
            end = await self._checked_fix(end, **where)
            if end.text:
                yield DeltaFrame(type="chat.delta", id=frame.id, text=end.text)
        async for out in self._finish(transcript, intent, bundle, examples, lead, end, started):
            yield out

    async def _checked_fix(self, end: Streamed, notebook_path: str | None, kernel_id: str | None) -> Streamed:
        """The model's fix after its check run: offered, folded, or (the bundled model's) not shown."""
        if end.meta is None:  # cancelled before the end: nothing was shown, nothing is kept
            return replace(end, text="")
        bundled = is_bundled(end.meta.provider, end.meta.model)
        offer = await self.diagnosis.offer_model_fix(
            end.text,
            extract_code(end.text).code,
            notebook_path=notebook_path,
            kernel_id=kernel_id,
            hide_unverified=bundled,
        )
        return replace(end, text=offer.text)

    async def _finish(
        self,
        transcript: Transcript,
        intent: Intent,
        bundle: ContextBundle,
        examples: list[Any],
        lead: str,
        end: Streamed,
        started: float,
    ) -> AsyncGenerator[BaseModel, None]:
        """The model's answer is complete (or cancelled): cite the sources, store it, say it is done."""
        frame = transcript.frame
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
        stored = await transcript.add(
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
        yield MessageBroadcastFrame(conversation_id=transcript.conversation_id, message=stored)
        yield ChatDoneFrame(
            id=frame.id,
            conversation_id=transcript.conversation_id,
            message_id=stored.id,
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
            ContextItem(
                kind=p.kind,  # type: ignore[arg-type]
                label=p.label,
                preview=p.text[:200],
                summary=p.summary,
                tokens=p.tokens,
                source=p.source,
            )
            for p in bundle.pieces
        ]
