"""Keys for encryption at rest: the ``KeyRing``, the key file, and the ciphertext format.

A ``KeyRing`` holds one primary key (used to encrypt) and any older keys (still
accepted to decrypt, so a rotation can re-encrypt row by row). Each ciphertext
names its key: ``nxe1:<key id>:<base64(nonce | ciphertext | tag)>``.

Kept apart from the SQLAlchemy column type (``crypto.py``) so a server can load
its key at start-up without importing SQLAlchemy.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PREFIX = "nxe1:"
KEY_FILE_NAME = "nexus.key"
_NONCE_BYTES = 12


class CryptoError(RuntimeError):
    """A key is missing, malformed, or a ciphertext does not authenticate; the message is safe to show."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text.encode("ascii"))
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise CryptoError("not valid base64") from None


def new_key() -> bytes:
    return secrets.token_bytes(32)


def parse_key(text: str) -> bytes:
    """A 256-bit key given as url-safe base64 (what ``rotate_key`` and the key file write)."""
    key = _unb64(text.strip())
    if len(key) != 32:
        raise CryptoError(f"an AES-256 key is 32 bytes; this one has {len(key)}")
    return key


def key_id(key: bytes) -> str:
    """A short, non-secret fingerprint naming the key inside each ciphertext."""
    import hashlib

    return hashlib.sha256(b"nexus-key-id" + key).hexdigest()[:8]


@dataclass
class KeyRing:
    primary: bytes
    previous: list[bytes] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._by_id = {key_id(k): k for k in [*self.previous, self.primary]}
        self._ciphers: dict[bytes, Any] = {}

    def _cipher(self, key: bytes) -> Any:
        """One AESGCM object per key (building it costs as much as sealing a short message)."""
        cipher = self._ciphers.get(key)
        if cipher is None:
            from cryptography.hazmat.primitives.ciphers.aead import AESGCM

            cipher = self._ciphers[key] = AESGCM(key)
        return cipher

    @property
    def primary_id(self) -> str:
        return key_id(self.primary)

    def encrypt(self, plaintext: str) -> str:
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._cipher(self.primary).encrypt(nonce, plaintext.encode("utf-8"), None)
        return f"{PREFIX}{self.primary_id}:{_b64(nonce + sealed)}"

    def decrypt(self, stored: str) -> str:
        if not is_encrypted(stored):
            return stored
        from cryptography.exceptions import InvalidTag

        try:
            kid, body = stored[len(PREFIX) :].split(":", 1)
        except ValueError:
            raise CryptoError("malformed ciphertext") from None
        key = self._by_id.get(kid)
        if key is None:
            raise CryptoError(f"the data was encrypted with key {kid}, which is not configured")
        raw = _unb64(body)
        try:
            plain = self._cipher(key).decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], None)
            return plain.decode("utf-8")
        except InvalidTag:
            raise CryptoError(f"ciphertext does not authenticate with key {kid}") from None

    def is_current(self, stored: str) -> bool:
        return stored.startswith(f"{PREFIX}{self.primary_id}:")

    # -- persistence ------------------------------------------------------------------------------
    def dumps(self) -> str:
        return json.dumps(
            {"version": 1, "primary": _b64(self.primary), "previous": [_b64(k) for k in self.previous]}
        )

    @classmethod
    def loads(cls, text: str) -> KeyRing:
        try:
            data = json.loads(text)
            return cls(parse_key(data["primary"]), [parse_key(k) for k in data.get("previous", [])])
        except CryptoError:
            raise
        except (ValueError, KeyError, TypeError):
            # A bare base64 key (e.g. written by an admin) is accepted too.
            return cls(parse_key(text))


def is_encrypted(value: str) -> bool:
    return value.startswith(PREFIX)


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically, readable by the owner only (0600) from the first byte."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    os.chmod(path, 0o600)


def load_keyring(configured_key: str, key_file: Path) -> KeyRing:
    """The key from configuration if given, else the key file (created with 0600 on first start)."""
    if configured_key:
        return KeyRing(parse_key(configured_key))
    if key_file.exists():
        mode = key_file.stat().st_mode & 0o777
        if mode & 0o077:
            raise CryptoError(
                f"the key file {key_file} is readable by others (mode {mode:o}); run chmod 600 on it"
            )
        return KeyRing.loads(key_file.read_text(encoding="utf-8"))
    ring = KeyRing(new_key())
    write_private(key_file, ring.dumps())
    return ring


class UnusableKeyRing(KeyRing):
    """Stands in for a key that could not be loaded: every encrypt/decrypt fails with the reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(b"\0" * 32)
        self.reason = reason

    def encrypt(self, plaintext: str) -> str:
        raise CryptoError(self.reason)

    def decrypt(self, stored: str) -> str:
        raise CryptoError(self.reason)
