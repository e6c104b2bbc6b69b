"""Conversations and their messages, always scoped to their owner.

Every method takes the owner's user id and filters on it, so a conversation id
guessed or leaked from another user reads as "not found", never as someone
else's data. A notebook chat (``shared_path`` set) belongs to the notebook, not
to one user: methods reach it only when given that path, after the caller has
checked that the user may open the notebook (``collab.access``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .database import Database
from .models import Conversation, Message, utcnow


class ConversationNotFound(LookupError):
    pass


class ConversationStore:
    def __init__(self, database: Database) -> None:
        self.database = database

    async def create(self, user_id: int, title: str, notebook_path: str | None = None) -> Conversation:
        def create(session: Session) -> Conversation:
            conversation = Conversation(user_id=user_id, title=title, notebook_path=notebook_path)
            session.add(conversation)
            session.flush()
            return conversation

        return await self.database.run(create)

    async def list_owned(self, user_id: int) -> list[tuple[Conversation, int]]:
        """The user's conversations, newest first, with their message counts."""

        def query(session: Session) -> list[tuple[Conversation, int]]:
            counts = (
                select(Message.conversation_id, func.count(Message.id).label("n"))
                .group_by(Message.conversation_id)
                .subquery()
            )
            stmt = (
                select(Conversation, func.coalesce(counts.c.n, 0))
                .outerjoin(counts, counts.c.conversation_id == Conversation.id)
                .where(Conversation.user_id == user_id, Conversation.shared_path.is_(None))
                .order_by(Conversation.updated_at.desc(), Conversation.created_at.desc())
            )
            return [(c, int(n)) for c, n in session.execute(stmt)]

        return await self.database.run(query)

    @staticmethod
    def _owned(
        session: Session, user_id: int, conversation_id: str, shared_path: str | None = None
    ) -> Conversation:
        stmt = select(Conversation).where(Conversation.id == conversation_id)
        if shared_path is None:
            stmt = stmt.where(Conversation.user_id == user_id, Conversation.shared_path.is_(None))
        else:
            stmt = stmt.where(Conversation.shared_path == shared_path)
        conversation = session.scalar(stmt)
        if conversation is None:
            raise ConversationNotFound(conversation_id)
        return conversation

    # -- notebook chats ---------------------------------------------------------------------------
    async def notebook_chat(self, path: str, creator_id: int) -> Conversation:
        """The chat attached to notebook ``path``, created on first use (one per notebook)."""

        def find(session: Session) -> Conversation | None:
            return session.scalar(select(Conversation).where(Conversation.shared_path == path))

        def create(session: Session) -> Conversation:
            title = f"Notebook chat: {path.rsplit('/', 1)[-1]}"
            conversation = Conversation(user_id=creator_id, title=title, notebook_path=path, shared_path=path)
            session.add(conversation)
            session.flush()
            return conversation

        existing = await self.database.run(find)
        if existing is not None:
            return existing
        try:
            return await self.database.run(create)
        except IntegrityError:  # a collaborator's first message created it at the same moment
            found = await self.database.run(find)
            assert found is not None
            return found

    async def notebook_chat_messages(self, path: str) -> tuple[Conversation | None, list[Message]]:
        def query(session: Session) -> tuple[Conversation | None, list[Message]]:
            conversation = session.scalar(select(Conversation).where(Conversation.shared_path == path))
            return conversation, list(conversation.messages) if conversation else []

        return await self.database.run(query)

    async def get(
        self, user_id: int, conversation_id: str, shared_path: str | None = None
    ) -> tuple[Conversation, list[Message]]:
        def query(session: Session) -> tuple[Conversation, list[Message]]:
            conversation = self._owned(session, user_id, conversation_id, shared_path)
            return conversation, list(conversation.messages)

        return await self.database.run(query)

    async def rename(self, user_id: int, conversation_id: str, title: str) -> Conversation:
        def update(session: Session) -> Conversation:
            conversation = self._owned(session, user_id, conversation_id)
            conversation.title = title
            session.flush()
            return conversation

        return await self.database.run(update)

    async def delete(self, user_id: int, conversation_id: str) -> None:
        def delete(session: Session) -> None:
            session.delete(self._owned(session, user_id, conversation_id))

        await self.database.run(delete)

    async def add_message(
        self,
        user_id: int,
        conversation_id: str,
        role: str,
        content: str,
        *,
        model: str | None = None,
        provider: str | None = None,
        meta: dict[str, Any] | None = None,
        shared_path: str | None = None,
    ) -> Message:
        def add(session: Session) -> Message:
            conversation = self._owned(session, user_id, conversation_id, shared_path)
            seq = session.scalar(
                select(func.coalesce(func.max(Message.seq), 0)).where(
                    Message.conversation_id == conversation.id
                )
            )
            message = Message(
                conversation_id=conversation.id,
                seq=int(seq or 0) + 1,
                role=role,
                content=content,
                model=model,
                provider=provider,
                meta=meta or {},
            )
            session.add(message)
            conversation.updated_at = utcnow()
            session.flush()
            return message

        return await self.database.run(add)

    async def clear(self, user_id: int, conversation_id: str, shared_path: str | None = None) -> None:
        """``/clear``: later prompts no longer include the earlier messages."""

        def clear(session: Session) -> None:
            self._owned(session, user_id, conversation_id, shared_path).cleared_at = utcnow()

        await self.database.run(clear)

    async def model_history(
        self, user_id: int, conversation_id: str, shared_path: str | None = None
    ) -> list[Message]:
        """The messages the model may see: those after the last ``/clear``."""

        def query(session: Session) -> list[Message]:
            conversation = self._owned(session, user_id, conversation_id, shared_path)
            stmt = select(Message).where(Message.conversation_id == conversation.id)
            if conversation.cleared_at is not None:
                stmt = stmt.where(Message.created_at > conversation.cleared_at)
            return list(session.scalars(stmt.order_by(Message.seq)))

        return await self.database.run(query)
