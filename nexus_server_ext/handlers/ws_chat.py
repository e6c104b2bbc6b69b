"""A minimal streaming path for the websocket's ``chat`` and ``complete`` frames.

This is the frontend's bridge until the consciousness core (intents, context,
memory, rooms) takes over these frames: it calls the model router directly,
streams its events as protocol frames, stores both messages and the
interaction, and nothing more. ``MinimalChatRunner`` is the one seam the core
replaces.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Callable, Coroutine
from contextlib import aclosing
from functools import partial
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from ..ai.pipeline import SYSTEM_PROMPTS
from ..ai.postprocess import clean_completion
from ..ai.types import ChatMessage, Delta, Done, GenerationMeta, NoModelAvailable, Restart
from ..api_models import (
    ChatDoneFrame,
    ChatFrame,
    ChatStartedFrame,
    CompleteDoneFrame,
    CompleteFrame,
    ContextItem,
    DeltaFrame,
    ErrorFrame,
    RestartFrame,
)
from ..store.conversations import ConversationNotFound

if TYPE_CHECKING:
    from ..registry import NexusServices

log = logging.getLogger(__name__)

# Until the core's intent analysis lands: a request that asks for code gets the code prompt.
_CODE_REQUEST = re.compile(
    r"\b(write|code|function|implement|script|def|class|snippet|refactor|fix|python|program)\b", re.I
)
HISTORY_MESSAGES = 8


def chat_task(text: str) -> str:
    return "code_generation" if _CODE_REQUEST.search(text) else "natural_language"


class MinimalChatRunner:
    """Runs one socket's generations as tasks, so ``cancel`` and a closed socket can stop them."""

    def __init__(
        self, services: NexusServices, send: Callable[[BaseModel], None], user_id: Callable[[], Any]
    ) -> None:
        self.services = services
        self.send = send
        self.user_id = user_id
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.completion_id: str | None = None

    def start(self, frame: ChatFrame | CompleteFrame) -> None:
        if frame.id in self.tasks:
            self.send(
                ErrorFrame(error="duplicate_id", message="A request with this id is running.", id=frame.id)
            )
            return
        if isinstance(frame, CompleteFrame):
            # A newer completion supersedes the previous one: stop it on the server, not only in the UI.
            if self.completion_id is not None:
                self.cancel(self.completion_id)
            self.completion_id = frame.id
            coro = self._complete(frame)
        else:
            coro = self._chat(frame)
        task = asyncio.ensure_future(self._guard(frame.id, coro))
        self.tasks[frame.id] = task
        task.add_done_callback(partial(self._forget, frame.id))

    async def _guard(self, request_id: str, coro: Coroutine[Any, Any, None]) -> None:
        """An unexpected failure ends the request with an error frame, never a silent hang."""
        try:
            await coro
        except Exception:
            log.exception("NEXUS websocket request %s failed", request_id)
            self.send(
                ErrorFrame(
                    error="internal_error",
                    message="NEXUS could not answer this request; the server log says why.",
                    id=request_id,
                )
            )

    def _forget(self, request_id: str, _task: asyncio.Task[None]) -> None:
        self.tasks.pop(request_id, None)

    def cancel(self, request_id: str) -> bool:
        task = self.tasks.get(request_id)
        if task is None:
            return False
        task.cancel()
        return True

    def close(self) -> None:
        """The client went away: its generations stop (the local engine frees within one token)."""
        for task in list(self.tasks.values()):
            task.cancel()

    # -- chat ---------------------------------------------------------------------------------------
    async def _chat(self, frame: ChatFrame) -> None:
        router = self.services.router
        if router is None:
            self.send(ErrorFrame(error="unavailable", message="The model routing is invalid.", id=frame.id))
            return
        store = self.services.conversations
        try:
            user_id = await self.user_id()
            if frame.conversation_id:
                history = await store.model_history(user_id, frame.conversation_id)
                conversation_id = frame.conversation_id
            else:
                title = " ".join(frame.text.split())[:60]
                conversation_id = (await store.create(user_id, title, frame.context.notebook_path)).id
                history = []
        except ConversationNotFound:
            self.send(ErrorFrame(error="not_found", message="There is no such conversation.", id=frame.id))
            return
        await store.add_message(user_id, conversation_id, "user", frame.text)
        task = chat_task(frame.text)
        context: list[ContextItem] = []
        prompt = frame.text
        selection = frame.context.selection
        if selection and "selection" not in frame.context.exclude:
            context.append(ContextItem(kind="selection", label="Selection", preview=selection[:200]))
            prompt = f"Code:\n```python\n{selection}\n```\n\n{frame.text}"
        self.send(
            ChatStartedFrame(id=frame.id, conversation_id=conversation_id, intent=task, context=context)
        )
        system = SYSTEM_PROMPTS[task].format(language="python")
        messages = [ChatMessage("system", system)]
        for m in history[-HISTORY_MESSAGES:]:
            if m.role in ("user", "assistant"):
                messages.append(ChatMessage(m.role, m.content))  # type: ignore[arg-type]
        messages.append(ChatMessage("user", prompt))
        started = time.perf_counter()
        path: list[dict[str, Any]] = []
        text: list[str] = []
        meta: GenerationMeta | None = None
        cancelled = False
        try:
            async with aclosing(router.stream(task, messages, path=path)) as events:
                async for event in events:
                    if isinstance(event, Delta):
                        text.append(event.text)
                        self.send(DeltaFrame(type="chat.delta", id=frame.id, text=event.text))
                    elif isinstance(event, Restart):
                        text.clear()
                        self.send(
                            RestartFrame(
                                id=frame.id,
                                reason=event.reason,
                                failed_model=f"{event.failed_provider}/{event.failed_model}",
                                next_model=f"{event.next_provider}/{event.next_model}",
                            )
                        )
                    elif isinstance(event, Done):
                        meta = event.meta
        except NoModelAvailable as exc:
            self.send(ErrorFrame(error="no_model_available", message=str(exc), id=frame.id))
            return
        except asyncio.CancelledError:
            cancelled = True
        answer = "".join(text)
        provider, model = (meta.provider, meta.model) if meta else ("", "")
        interaction_id = None
        pipeline = self.services.pipeline
        if pipeline is not None:
            outcome = "cancelled" if cancelled else "ok"
            interaction_id = await pipeline._record(
                task,
                meta,
                path,
                outcome,
                started,
                user_id,
                conversation_id,
                meta.tokens_out if meta else len(text),
            )
        message = await store.add_message(
            user_id,
            conversation_id,
            "assistant",
            answer,
            model=model or None,
            provider=provider or None,
            meta={"interaction_id": interaction_id, "cancelled": cancelled},
        )
        self.send(
            ChatDoneFrame(
                id=frame.id,
                conversation_id=conversation_id,
                message_id=message.id,
                interaction_id=interaction_id,
                model=model,
                provider=provider,
                ttft_ms=meta.ttft_ms if meta else None,
                latency_ms=(time.perf_counter() - started) * 1000,
                tokens_out=meta.tokens_out if meta else len(text),
                fallback_path=path,
                cancelled=cancelled,
            )
        )

    # -- inline completion --------------------------------------------------------------------------
    async def _complete(self, frame: CompleteFrame) -> None:
        router = self.services.router
        if router is None or not frame.prefix.strip():
            self.send(CompleteDoneFrame(id=frame.id, text="", model=""))
            return
        header = f"# {frame.path}\n" if frame.path and frame.language.lower() in ("python", "py") else ""
        text: list[str] = []
        model = ""
        cancelled = False
        try:
            stream = router.stream("completion", prompt=header + frame.prefix[-4000:], stop=["\n\n\n"])
            async with aclosing(stream) as events:
                async for event in events:
                    if isinstance(event, Delta):
                        text.append(event.text)
                        self.send(DeltaFrame(type="complete.delta", id=frame.id, text=event.text))
                    elif isinstance(event, Restart):
                        text.clear()
                    elif isinstance(event, Done):
                        model = event.meta.model
        except NoModelAvailable as exc:
            self.send(ErrorFrame(error="no_model_available", message=str(exc), id=frame.id))
            return
        except asyncio.CancelledError:
            cancelled = True
        finally:
            if self.completion_id == frame.id:
                self.completion_id = None
        completion = "" if cancelled else clean_completion("".join(text), frame.prefix, frame.suffix)
        with contextlib.suppress(Exception):
            self.send(CompleteDoneFrame(id=frame.id, text=completion, model=model, cancelled=cancelled))
