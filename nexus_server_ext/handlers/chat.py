"""``POST /chat``: one chat request without streaming (intent, context, memory, model), and ``/feedback``."""

from __future__ import annotations

import time

from jupyter_server.auth.decorator import authorized
from tornado import web

from ..api_models import (
    ChatDoneFrame,
    ChatFrame,
    ChatReply,
    ChatRequest,
    ChatStartedFrame,
    DeltaFrame,
    ErrorFrame,
    FeedbackReply,
    FeedbackRequest,
    RestartFrame,
    SlashCommandList,
)
from ..errors import NexusError
from .base import NexusHandler, Operation


class ChatHandler(NexusHandler):
    auth_resource = "nexus:chat"
    operations = {
        "post": Operation(
            "Ask NEXUS and wait for the whole answer: intent, context, memories and the model chain.",
            request=ChatRequest,
            response=ChatReply,
            max_body_bytes=128 * 1024,
            rate_class="chat",
            description="The websocket's `chat` frame streams the same answer token by token.",
        )
    }

    @web.authenticated
    @authorized
    async def post(self) -> None:
        body = self.read_model(ChatRequest)
        core = self.nexus.core
        if core is None:
            raise NexusError(
                503, "unavailable", "The model routing file is invalid; see /status for the key to fix."
            )
        started = time.perf_counter()
        user_id = await self.user_id()
        frame = ChatFrame(
            type="chat", id="rest", conversation_id=body.conversation_id, text=body.text, context=body.context
        )
        begun: ChatStartedFrame | None = None
        done: ChatDoneFrame | None = None
        text: list[str] = []
        async for out in core.process(self.username, user_id, frame):
            if isinstance(out, ChatStartedFrame):
                begun = out
            elif isinstance(out, DeltaFrame):
                text.append(out.text)
            elif isinstance(out, RestartFrame):
                text.clear()
            elif isinstance(out, ChatDoneFrame):
                done = out
            elif isinstance(out, ErrorFrame):
                status = 404 if out.error == "not_found" else 503
                raise NexusError(status, out.error, out.message)
        assert begun is not None and done is not None
        self.write_model(
            ChatReply(
                conversation_id=done.conversation_id,
                message_id=done.message_id,
                interaction_id=done.interaction_id,
                intent=begun.intent,
                answer="".join(text),
                model=done.model,
                provider=done.provider,
                citations=done.citations,
                context=begun.context,
                latency_ms=(time.perf_counter() - started) * 1000,
            )
        )


class FeedbackHandler(NexusHandler):
    auth_resource = "nexus:chat"
    operations = {
        "post": Operation(
            "Rate an answer (thumbs up/down) or report what happened to inserted code.",
            request=FeedbackRequest,
            response=FeedbackReply,
            status=201,
            max_body_bytes=128 * 1024,
        )
    }

    @web.authenticated
    @authorized
    async def post(self) -> None:
        body = self.read_model(FeedbackRequest)
        from ..ai.learning import InteractionNotFound  # loaded by now (deferred services)

        learning = self.nexus.learning
        if learning is None:
            raise NexusError(503, "unavailable", "The learning system is not running.")
        try:
            feedback_id, saved = await learning.record(
                await self.user_id(),
                self.username,
                body.interaction_id,
                body.kind,
                body.comment,
                body.edited_text,
            )
        except InteractionNotFound:
            raise NexusError(404, "not_found", "There is no answer with this interaction id.") from None
        self.write_model(
            FeedbackReply(
                id=feedback_id, interaction_id=body.interaction_id, kind=body.kind, example_saved=saved
            ),
            status=201,
        )


class SlashCommandsHandler(NexusHandler):
    auth_resource = "nexus:chat"
    operations = {
        "get": Operation(
            "The chat's slash commands: NEXUS's own, plugin intents and plugin server commands.",
            response=SlashCommandList,
            description="The chat panel's `/` completion lists these; the server is the one that "
            "understands them.",
        )
    }

    @web.authenticated
    @authorized
    async def get(self) -> None:
        core = self.nexus.core
        if core is None:
            raise NexusError(503, "unavailable", "The model routing file is invalid; see /status.")
        commands = core.slash_commands()
        self.write_model(SlashCommandList(commands=commands))


default_handlers = [
    (r"/nexus/api/v1/chat", ChatHandler),
    (r"/nexus/api/v1/chat/commands", SlashCommandsHandler),
    (r"/nexus/api/v1/feedback", FeedbackHandler),
]
