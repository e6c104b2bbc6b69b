"""The requests one websocket has in flight: chats, generations and inline completions, each cancellable.

Why a class of its own: the socket handler stays about frames, and this one
owns the asyncio tasks, their cancel flags and the delta batching. A chat is
stopped cooperatively (its cancel event: the core stores the partial answer and
ends with ``chat.done`` ``cancelled: true``); a completion is simply cancelled
and answered with ``complete.done`` ``cancelled: true``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from contextlib import aclosing
from typing import TYPE_CHECKING, Any

from jupyter_server.utils import ensure_async
from pydantic import BaseModel

from ..ai.types import Delta, NoModelAvailable, Restart
from ..api_models import (
    CancelFrame,
    ChatFrame,
    CompleteDoneFrame,
    CompleteFrame,
    DeltaFrame,
    ErrorFrame,
    GenerateDoneFrame,
    GenerateFrame,
    MessageBroadcastFrame,
    RestartFrame,
    RouteStep,
)
from .rooms import DeltaBatcher

if TYPE_CHECKING:
    from ..registry import NexusServices
    from .ws_socket import NexusSocket

log = logging.getLogger(__name__)


class SocketRequests:
    def __init__(self, socket: NexusSocket) -> None:
        self.socket = socket
        self.chats: dict[str, asyncio.Event] = {}
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.completion: tuple[str, asyncio.Task[None]] | None = None

    @property
    def nexus(self) -> NexusServices:
        return self.socket.nexus

    def handle(self, frame: BaseModel) -> None:
        if isinstance(frame, ChatFrame):
            self._start_chat(frame)
        elif isinstance(frame, CompleteFrame):
            self._start_completion(frame)
        elif isinstance(frame, GenerateFrame):
            self._start_generate(frame)
        elif isinstance(frame, CancelFrame):
            self.cancel(frame.id)

    def _error(self, error: str, message: str, request_id: str | None) -> None:
        self.socket.send(ErrorFrame(error=error, message=message, id=request_id))

    def _admit(self, request_id: str, rate_class: str, cost: float = 1.0) -> bool:
        """Whether a request may start: the core is there, its id is free, and the user's bucket of
        ``rate_class`` (``chat`` or ``completion``, as for the REST routes) has ``cost`` tokens."""
        if self.nexus.core is None:
            self._error("unavailable", "The model routing file is invalid; see /status.", request_id)
            return False
        if request_id in self.tasks:
            self._error("duplicate_id", f"A request with id {request_id!r} is still running.", request_id)
            return False
        limiter = self.nexus.rate_limiter
        wait = limiter.acquire(self.socket.owner, cost, rate_class)
        if wait > 0:
            seconds = limiter.retry_after_header(wait)
            self._error("rate_limited", f"Too many requests: try again in {seconds} s.", request_id)
            return False
        return True

    def _track(
        self, request_id: str, coro: Any, cancelled_frame: BaseModel | None = None
    ) -> asyncio.Task[None]:
        """Run ``coro`` as the request's task. A task cancelled before its first step never enters its
        own ``except CancelledError`` (two frames in one read: the second supersedes the first), so
        ``cancelled_frame`` is sent for it here: every request gets its final frame."""
        task = asyncio.ensure_future(coro)
        self.tasks[request_id] = task

        def done(finished: asyncio.Task[None]) -> None:
            self.tasks.pop(request_id, None)
            if finished.cancelled():
                if self.completion and self.completion[0] == request_id:
                    self.completion = None
                if cancelled_frame is not None:
                    self.socket.send(cancelled_frame)

        task.add_done_callback(done)
        self.nexus.background(task)
        return task

    # -- chat -----------------------------------------------------------------------------------
    def _start_chat(self, frame: ChatFrame) -> None:
        if not self._admit(frame.id, "chat"):
            return
        cancel = asyncio.Event()
        self.chats[frame.id] = cancel
        self._track(frame.id, self._run_chat(frame, cancel))

    async def _run_chat(self, frame: ChatFrame, cancel: asyncio.Event) -> None:
        socket = self.socket
        notebooks = socket.notebooks
        author: str | None = None
        to_room: Callable[[BaseModel], None] = socket.to_room
        if frame.notebook and notebooks is not None:  # a notebook chat: its collaborators see it all
            path = await notebooks.allowed(frame.notebook, frame.id)
            if path is None:
                self.chats.pop(frame.id, None)
                return
            frame = frame.model_copy(update={"notebook": path})
            author = notebooks.display_name()

            def to_notebook(out: BaseModel) -> None:
                exclude = socket if isinstance(out, MessageBroadcastFrame) else None
                notebooks.send(path, out, exclude=exclude)

            to_room = to_notebook
        batcher = DeltaBatcher(lambda text: to_room(DeltaFrame(type="chat.delta", id=frame.id, text=text)))
        try:
            display = getattr(socket.current_user, "display_name", "") or ""
            user_id = await self.nexus.users.ensure(socket.owner, "" if self.nexus.owner_name else display)
            core = self.nexus.core
            assert core is not None  # admitted: the routing file is valid
            stream = core.process(socket.owner, user_id, frame, cancel, author=author)
            async with aclosing(stream) as frames:
                async for out in frames:
                    if isinstance(out, DeltaFrame):
                        batcher.add(out.text)
                        continue
                    batcher.flush()
                    if isinstance(out, ErrorFrame):
                        socket.send(out)
                    else:
                        to_room(out)
        except Exception:
            log.exception("NEXUS chat %s failed", frame.id)
            self._error("internal_error", "NEXUS could not answer; the server log has details.", frame.id)
        finally:
            batcher.flush()
            self.chats.pop(frame.id, None)

    # -- generate (the notebook magics) ---------------------------------------------------------
    def _start_generate(self, frame: GenerateFrame) -> None:
        if self.nexus.pipeline is None:
            self._error("unavailable", "The model routing file is invalid; see /status.", frame.id)
            return
        if not self._admit(frame.id, "chat"):
            return
        cancelled = GenerateDoneFrame(
            id=frame.id, text="", model="", provider="", interaction_id=None, cancelled=True
        )
        self._track(frame.id, self._run_generate(frame), cancelled)

    async def _run_generate(self, frame: GenerateFrame) -> None:
        from ..ai.pipeline import Streamed  # loaded with the pipeline (deferred services)

        socket = self.socket
        allowed = await ensure_async(
            socket.authorizer.is_authorized(socket, socket.current_user, "execute", "nexus:generate")
        )
        if not allowed:
            self._error("forbidden", "You may not use the model through the generate API.", frame.id)
            return
        batcher = DeltaBatcher(
            lambda text: socket.send(DeltaFrame(type="generate.delta", id=frame.id, text=text))
        )
        text: list[str] = []
        try:
            user_id = await self.nexus.users.ensure(socket.owner, "")
            chain = None
            if self.nexus.learning is not None:  # the order feedback has given the chain
                chain = (await self.nexus.learning.preference(frame.task)).order or None
            pipeline = self.nexus.pipeline
            assert pipeline is not None  # admitted: the routing file is valid
            stream = pipeline.stream(
                frame.task,
                frame.prompt,
                context=frame.context.model_dump(exclude_none=True),
                history=[(t.role, t.content) for t in frame.history],
                language=frame.language,
                max_tokens=frame.max_tokens,
                user_id=user_id,
                chain=chain,
                owner=socket.owner,  # the caller's stored API keys, their place in the engine queue
            )
            async with aclosing(stream) as events:
                async for event in events:
                    if isinstance(event, Delta):
                        text.append(event.text)
                        batcher.add(event.text)
                    elif isinstance(event, Restart):
                        batcher.flush()
                        text.clear()
                        socket.send(
                            RestartFrame(
                                type="generate.restart",
                                id=frame.id,
                                reason=event.reason,
                                failed_model=event.failed_model,
                                next_model=event.next_model,
                            )
                        )
                    elif isinstance(event, Streamed):
                        batcher.flush()
                        meta = event.meta
                        socket.send(
                            GenerateDoneFrame(
                                id=frame.id,
                                text=event.text,
                                model=meta.model if meta else "",
                                provider=meta.provider if meta else "",
                                interaction_id=event.interaction_id,
                                ttft_ms=meta.ttft_ms if meta else None,
                                latency_ms=event.latency_ms,
                                tokens_out=meta.tokens_out if meta else 0,
                                fallback_path=[RouteStep(**p) for p in event.fallback_path],
                            )
                        )
        except asyncio.CancelledError:
            batcher.flush()
            socket.send(
                GenerateDoneFrame(
                    id=frame.id,
                    text="".join(text),
                    model="",
                    provider="",
                    interaction_id=None,
                    cancelled=True,
                )
            )
        except NoModelAvailable as exc:
            batcher.flush()
            self._error("no_model_available", str(exc), frame.id)
        except Exception:
            log.exception("NEXUS generate %s failed", frame.id)
            self._error("internal_error", "NEXUS could not answer; the server log has details.", frame.id)

    # -- inline completion ----------------------------------------------------------------------
    def _start_completion(self, frame: CompleteFrame) -> None:
        if self.completion is not None:  # a newer request makes the older one pointless
            self.cancel(self.completion[0])
        if not frame.prefix.strip():
            self.socket.send(CompleteDoneFrame(id=frame.id, text="", model=""))
            return
        if not self._admit(frame.id, "completion"):
            return
        cancelled = CompleteDoneFrame(id=frame.id, text="", model="", cancelled=True)
        self.completion = (frame.id, self._track(frame.id, self._run_completion(frame), cancelled))

    async def _run_completion(self, frame: CompleteFrame) -> None:
        from ..ai.results import CompleteResult  # loaded with the pipeline (deferred services)

        socket = self.socket
        batcher = DeltaBatcher(
            lambda text: socket.send(DeltaFrame(type="complete.delta", id=frame.id, text=text))
        )
        model = ""
        try:
            user_id = await self.nexus.users.ensure(socket.owner, "")
            pipeline = self.nexus.pipeline
            assert pipeline is not None  # admitted: the routing file is valid
            stream = pipeline.complete_stream(
                frame.prefix,
                frame.suffix,
                language=frame.language,
                path=frame.path,
                cells=frame.cells,
                user_id=user_id,
                owner=socket.owner,
            )
            async with aclosing(stream) as events:
                async for event in events:
                    if isinstance(event, Delta):
                        batcher.add(event.text)
                    elif isinstance(event, CompleteResult):
                        batcher.flush()
                        model = event.model
                        done = CompleteDoneFrame(
                            id=frame.id, text=event.completion, model=model, suppressed=event.suppressed
                        )
                        socket.send(done)
        except asyncio.CancelledError:
            batcher.flush()
            socket.send(CompleteDoneFrame(id=frame.id, text="", model=model, cancelled=True))
        except NoModelAvailable as exc:
            self._error("no_model_available", str(exc), frame.id)
        finally:
            if self.completion and self.completion[0] == frame.id:
                self.completion = None

    # -- cancelling -----------------------------------------------------------------------------
    def cancel(self, request_id: str) -> None:
        if request_id in self.chats:
            self.chats[request_id].set()
        elif request_id in self.tasks:
            self.tasks[request_id].cancel()
        else:
            self._error("not_found", f"No request with id {request_id!r} is running.", request_id)

    def cancel_all(self) -> None:
        for event in list(self.chats.values()):
            event.set()
        for request_id, task in list(self.tasks.items()):
            if request_id not in self.chats:
                with contextlib.suppress(Exception):
                    task.cancel()
