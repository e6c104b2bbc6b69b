"""``Transcript``: one chat request's place in its conversation, and how its messages are stored.

Every answer, from a model, a certain fix, a command or a plugin, stores the
user's message and the reply the same way (a notebook chat's messages are
shared and record who asked), so each answering path asks the transcript
rather than the conversation store.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..api_models import ChatFrame, MessageOut
from ..store.conversations import ConversationStore


@dataclass
class Transcript:
    conversations: ConversationStore
    user_id: int
    frame: ChatFrame
    conversation_id: str
    author: str | None = None  # in a notebook chat: who asked

    @classmethod
    async def open(
        cls, conversations: ConversationStore, user_id: int, frame: ChatFrame, author: str | None
    ) -> Transcript:
        """The frame's conversation: the notebook's shared chat, the one named (after an ownership
        check: ``ConversationNotFound`` otherwise), or a new one titled by the message."""
        if frame.notebook:
            conversation_id = (await conversations.notebook_chat(frame.notebook, user_id)).id
        elif frame.conversation_id:
            await conversations.get(user_id, frame.conversation_id)  # ownership check
            conversation_id = frame.conversation_id
        else:
            title = " ".join(frame.text.split())[:60] or "New conversation"
            conversation_id = (await conversations.create(user_id, title, frame.context.notebook_path)).id
        return cls(conversations, user_id, frame, conversation_id, author)

    async def add(
        self, role: str, content: str, *, meta: dict[str, Any] | None = None, **kw: Any
    ) -> MessageOut:
        """Store one message (a question records its author in a notebook chat)."""
        if role == "user" and self.author:
            meta = {**(meta or {}), "author": self.author}
        message = await self.conversations.add_message(
            self.user_id,
            self.conversation_id,
            role,
            content,
            shared_path=self.frame.notebook,
            meta=meta or {},
            **kw,
        )
        return MessageOut.model_validate(message, from_attributes=True)

    async def history(self) -> list[tuple[str, str]]:
        """(role, text) of the conversation so far, as the model sees it."""
        messages = await self.conversations.model_history(
            self.user_id, self.conversation_id, self.frame.notebook
        )
        return [(m.role, m.content) for m in messages]

    async def clear(self) -> None:
        await self.conversations.clear(self.user_id, self.conversation_id, self.frame.notebook)
