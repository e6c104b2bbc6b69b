"""Jupyter identities as rows: created on first sight, cached so a request costs no extra query."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .database import Database
from .models import User, utcnow


class UserStore:
    def __init__(self, database: Database) -> None:
        self.database = database
        self._ids: dict[str, int] = {}

    async def ensure(self, username: str, display_name: str = "") -> int:
        """The row id for ``username``, creating the row the first time this user is seen."""
        cached = self._ids.get(username)
        if cached is not None:
            return cached
        user_id = await self.database.run(lambda s: self._get_or_create(s, username, display_name))
        self._ids[username] = user_id
        return user_id

    @staticmethod
    def _get_or_create(session: Session, username: str, display_name: str) -> int:
        user = session.scalar(select(User).where(User.username == username))
        if user is None:
            user = User(username=username, display_name=display_name or username)
            try:
                with session.begin_nested():  # a concurrent first request may have created it
                    session.add(user)
            except IntegrityError:
                user = session.scalar(select(User).where(User.username == username))
                assert user is not None
        else:
            user.last_seen_at = utcnow()
        session.flush()
        return user.id

    def forget(self) -> None:
        self._ids.clear()
