"""Provider API keys set through the secrets API: one per user, or server-wide, encrypted at rest.

Why this shape:
- the value column is ``EncryptedText`` (AES-256-GCM with the conversations' key,
  re-encrypted by ``rotate_key``); nothing here ever returns a value to a handler:
  ``states`` selects the provider, scope and time only;
- the model router asks ``keys_for(username)`` before each answer: the user's own
  key wins over the server-wide one, and either wins over the routing file's
  ``api_key`` (an environment variable), which keeps working when nothing is stored;
- lookups are cached per user for ``CACHE_TTL_S`` seconds, so inline completions
  cost no query; a change made in this process applies at once, one made by
  another server sharing the database within the TTL.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Select, delete, or_, select
from sqlalchemy.orm import Session

from .database import Database
from .models import ProviderSecret, User, utcnow

SECRET_NAME = "api_key"
CACHE_TTL_S = 10.0


@dataclass(frozen=True)
class SecretState:
    """That a key is stored, for whom, and since when: everything about a secret an API may show."""

    provider: str
    scope: str  # "user" | "server"
    updated_at: datetime


class ProviderSecretStore:
    def __init__(self, database: Database) -> None:
        self.database = database
        self._cache: dict[str, tuple[float, dict[str, str]]] = {}

    # -- what the router uses -------------------------------------------------------------------
    async def keys_for(self, username: str) -> dict[str, str]:
        """{provider: key} for ``username``'s requests: their own keys over the server-wide ones."""
        now = time.monotonic()
        cached = self._cache.get(username)
        if cached is not None and cached[0] > now:
            return cached[1]
        keys = await self.database.run(lambda s: self._keys(s, username))
        self._cache[username] = (now + CACHE_TTL_S, keys)
        return keys

    @staticmethod
    def _keys(session: Session, username: str) -> dict[str, str]:
        rows = session.execute(
            select(ProviderSecret.provider, ProviderSecret.user_id, ProviderSecret.value)
            .outerjoin(User, User.id == ProviderSecret.user_id)
            .where(
                ProviderSecret.name == SECRET_NAME,
                or_(ProviderSecret.user_id.is_(None), User.username == username),
            )
        )
        server: dict[str, str] = {}
        own: dict[str, str] = {}
        for provider, user_id, value in rows:
            (server if user_id is None else own)[provider] = value
        return {**server, **own}

    # -- what the secrets API uses ----------------------------------------------------------------
    async def put(self, provider: str, user_id: int | None, value: str) -> SecretState:
        """Set or replace the key (``user_id`` None: the server-wide one)."""

        def upsert(session: Session) -> SecretState:
            rows = list(session.scalars(self._select(provider, user_id).order_by(ProviderSecret.id)))
            row = rows[0] if rows else ProviderSecret(user_id=user_id, provider=provider, name=SECRET_NAME)
            for extra in rows[1:]:  # NULL never equals NULL: two server-wide writes may have raced
                session.delete(extra)
            row.value = value
            row.updated_at = utcnow()
            session.add(row)
            session.flush()
            return SecretState(provider, _scope(user_id), row.updated_at)

        try:
            return await self.database.run(upsert)
        finally:
            self._cache.clear()

    async def delete(self, provider: str, user_id: int | None) -> bool:
        """Forget the key; False when none was stored."""

        def remove(session: Session) -> bool:
            found = session.scalar(self._select(provider, user_id).with_only_columns(ProviderSecret.id))
            if found is None:
                return False
            session.execute(
                delete(ProviderSecret)
                .where(*self._match(provider, user_id))
                .execution_options(synchronize_session=False)
            )
            return True

        try:
            return await self.database.run(remove)
        finally:
            self._cache.clear()

    async def states(self, user_id: int) -> list[SecretState]:
        """The caller's own keys and the server-wide ones, without their values."""

        def query(session: Session) -> list[SecretState]:
            rows = session.execute(
                select(ProviderSecret.provider, ProviderSecret.user_id, ProviderSecret.updated_at).where(
                    ProviderSecret.name == SECRET_NAME,
                    or_(ProviderSecret.user_id.is_(None), ProviderSecret.user_id == user_id),
                )
            )
            return [SecretState(p, _scope(uid), at) for p, uid, at in rows]

        return await self.database.run(query)

    @staticmethod
    def _match(provider: str, user_id: int | None) -> tuple[ColumnElement[bool], ...]:
        owner = ProviderSecret.user_id.is_(None) if user_id is None else ProviderSecret.user_id == user_id
        return (ProviderSecret.provider == provider, ProviderSecret.name == SECRET_NAME, owner)

    def _select(self, provider: str, user_id: int | None) -> Select[ProviderSecret]:
        return select(ProviderSecret).where(*self._match(provider, user_id))


def _scope(user_id: int | None) -> str:
    return "server" if user_id is None else "user"
