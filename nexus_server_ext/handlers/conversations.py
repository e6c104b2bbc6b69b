"""``/conversations``: list, create, read, rename and delete the caller's own conversations."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

from jupyter_server.auth.decorator import authorized
from tornado import web

from ..api_models import (
    ConversationCreate,
    ConversationDetail,
    ConversationList,
    ConversationOut,
    ConversationUpdate,
    MessageOut,
)
from ..errors import NexusError
from .base import NexusHandler, Operation

if TYPE_CHECKING:
    from ..store.models import Conversation

T = TypeVar("T")


def conversation_out(conversation: Conversation, message_count: int) -> ConversationOut:
    return ConversationOut(
        id=conversation.id,
        title=conversation.title,
        notebook_path=conversation.notebook_path,
        shared=conversation.shared_path is not None,
        created_at=conversation.created_at,
        updated_at=conversation.updated_at,
        message_count=message_count,
    )


async def owned(call: Callable[[], Awaitable[T]]) -> T:
    from ..store.conversations import ConversationNotFound  # loaded by now (deferred services)

    try:
        return await call()
    except ConversationNotFound:
        raise NexusError(404, "not_found", "There is no conversation with this id.") from None


class ConversationsHandler(NexusHandler):
    auth_resource = "nexus:chat"
    operations = {
        "get": Operation("List the caller's conversations, newest first.", response=ConversationList),
        "post": Operation(
            "Start a conversation.",
            request=ConversationCreate,
            response=ConversationOut,
            status=201,
            max_body_bytes=16 * 1024,
        ),
    }

    @web.authenticated
    @authorized
    async def get(self) -> None:
        rows = await self.nexus.conversations.list_owned(await self.user_id())
        self.write_model(ConversationList(conversations=[conversation_out(c, n) for c, n in rows]))

    @web.authenticated
    @authorized
    async def post(self) -> None:
        body = self.read_model(ConversationCreate)
        conversation = await self.nexus.conversations.create(
            await self.user_id(), body.title, body.notebook_path
        )
        self.write_model(conversation_out(conversation, 0), status=201)


class ConversationHandler(NexusHandler):
    auth_resource = "nexus:chat"
    operations = {
        "get": Operation("One conversation with its messages.", response=ConversationDetail),
        "patch": Operation(
            "Rename a conversation.",
            request=ConversationUpdate,
            response=ConversationOut,
            max_body_bytes=16 * 1024,
        ),
        "delete": Operation("Delete a conversation and all its messages.", status=204),
    }

    @web.authenticated
    @authorized
    async def get(self, conversation_id: str) -> None:
        user_id = await self.user_id()
        conversation, messages = await owned(lambda: self.nexus.conversations.get(user_id, conversation_id))
        detail = ConversationDetail(
            **conversation_out(conversation, len(messages)).model_dump(),
            messages=[MessageOut.model_validate(m, from_attributes=True) for m in messages],
        )
        self.write_model(detail)

    @web.authenticated
    @authorized
    async def patch(self, conversation_id: str) -> None:
        body = self.read_model(ConversationUpdate)
        user_id = await self.user_id()
        conversation = await owned(
            lambda: self.nexus.conversations.rename(user_id, conversation_id, body.title)
        )
        _, messages = await owned(lambda: self.nexus.conversations.get(user_id, conversation_id))
        self.write_model(conversation_out(conversation, len(messages)))

    @web.authenticated
    @authorized
    async def delete(self, conversation_id: str) -> None:
        user_id = await self.user_id()
        await owned(lambda: self.nexus.conversations.delete(user_id, conversation_id))
        self.set_status(204)
        self.finish()


default_handlers = [
    (r"/nexus/api/v1/conversations", ConversationsHandler),
    (r"/nexus/api/v1/conversations/(?P<conversation_id>[0-9a-f]{32})", ConversationHandler),
]
