"""Encryption at rest: AES-256-GCM for conversation text, memories' source text and provider secrets.

The keys and the ciphertext format live in ``keyring.py`` (re-exported here).
Columns declared as ``EncryptedText`` encrypt on write and decrypt on read
through the key ring attached to their engine (``attach_keyring``), so the
stores above them never see ciphertext and the database never sees plaintext.
Values without the prefix (rows written before encryption was enabled) read
as-is; ``rotate_key`` encrypts them.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Text
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.types import TypeDecorator

from .keyring import (
    KEY_FILE_NAME,
    PREFIX,
    CryptoError,
    KeyRing,
    is_encrypted,
    key_id,
    load_keyring,
    new_key,
    parse_key,
    write_private,
)

__all__ = [
    "KEY_FILE_NAME",
    "PREFIX",
    "CryptoError",
    "EncryptedText",
    "KeyRing",
    "attach_keyring",
    "engine_keyring",
    "is_encrypted",
    "key_id",
    "load_keyring",
    "new_key",
    "parse_key",
    "write_private",
]

# -- SQLAlchemy integration ---------------------------------------------------------------------------
_DIALECT_ATTR = "nexus_keyring"


def attach_keyring(engine: Engine, ring: KeyRing | None) -> None:
    """Make ``EncryptedText`` columns of this engine use ``ring`` (the dialect is per engine)."""
    setattr(engine.dialect, _DIALECT_ATTR, ring)


def engine_keyring(engine: Engine) -> KeyRing | None:
    return getattr(engine.dialect, _DIALECT_ATTR, None)


class EncryptedText(TypeDecorator[str]):
    """Text stored as AES-256-GCM ciphertext when the engine has a key ring (plain ``TEXT`` in the schema)."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        ring: KeyRing | None = getattr(dialect, _DIALECT_ATTR, None)
        if value is None or ring is None or is_encrypted(value):
            return value
        return ring.encrypt(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        ring: KeyRing | None = getattr(dialect, _DIALECT_ATTR, None)
        if value is None or not is_encrypted(value):
            return value
        if ring is None:
            raise CryptoError("this database holds encrypted text but no encryption key is configured")
        return ring.decrypt(value)
