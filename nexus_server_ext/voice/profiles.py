"""Per-user voice profiles: the words a user says that Whisper would not expect.

``vocabulary`` goes into Whisper's initial prompt (it biases spelling: "polars",
"xarray", a colleague's name); ``hotwords`` are boosted on every decoding
window. Both live in the database so they follow the user across servers
(JupyterHub) and are read once per transcription.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..store.database import Database
from ..store.models import VoiceProfile, utcnow


@dataclass(frozen=True)
class ProfileData:
    vocabulary: list[str] = field(default_factory=list)
    hotwords: list[str] = field(default_factory=list)
    language: str | None = None
    updated_at: str | None = None

    def prompt(self) -> str:
        """The user's vocabulary as a sentence Whisper reads before the audio."""
        return ("Vocabulary: " + ", ".join(self.vocabulary) + ".") if self.vocabulary else ""

    def hotword_text(self) -> str:
        return " ".join(self.hotwords)


def _data(row: VoiceProfile | None) -> ProfileData:
    if row is None:
        return ProfileData()
    return ProfileData(
        vocabulary=list(row.vocabulary or []),
        hotwords=list(row.hotwords or []),
        language=row.language,
        updated_at=row.updated_at.isoformat() if row.updated_at else None,
    )


class VoiceProfileStore:
    def __init__(self, database: Database) -> None:
        self.database = database

    async def get(self, user_id: int) -> ProfileData:
        def query(session: Session) -> ProfileData:
            return _data(session.scalar(select(VoiceProfile).where(VoiceProfile.user_id == user_id)))

        return await self.database.run(query)

    async def put(
        self, user_id: int, vocabulary: list[str], hotwords: list[str], language: str | None
    ) -> ProfileData:
        """Replace the user's profile (one transaction: all of it is stored or none)."""

        def write(session: Session) -> ProfileData:
            row = session.scalar(select(VoiceProfile).where(VoiceProfile.user_id == user_id))
            if row is None:
                row = VoiceProfile(user_id=user_id)
                session.add(row)
            row.vocabulary = list(vocabulary)
            row.hotwords = list(hotwords)
            row.language = language
            row.updated_at = utcnow()
            session.flush()
            return _data(row)

        return await self.database.run(write)
