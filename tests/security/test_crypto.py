"""Encryption at rest: the raw database holds no plaintext, keys are private, rotation re-encrypts."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from nexus_server_ext.security.crypto import (
    CryptoError,
    KeyRing,
    attach_keyring,
    engine_keyring,
    load_keyring,
    new_key,
)
from nexus_server_ext.security.rotate_key import rotate
from nexus_server_ext.store import Database
from nexus_server_ext.store.conversations import ConversationStore
from nexus_server_ext.store.users import UserStore

SECRET = "my database password is hunter2-correct-horse"
TITLE = "Quarterly numbers for ACME-7731"


def raw_values(db: Database) -> list[str]:
    with db.engine.connect() as conn:
        return [
            *conn.execute(text("SELECT content FROM messages")).scalars(),
            *conn.execute(text("SELECT title FROM conversations")).scalars(),
        ]


def test_round_trip_and_tamper_detection() -> None:
    ring = KeyRing(new_key())
    sealed = ring.encrypt(SECRET)
    assert SECRET not in sealed and sealed.startswith(f"nxe1:{ring.primary_id}:")
    assert ring.encrypt(SECRET) != sealed  # a fresh nonce every time
    assert ring.decrypt(sealed) == SECRET
    flipped = sealed[:-6] + ("A" if sealed[-6] != "A" else "B") + sealed[-5:]
    with pytest.raises(CryptoError):
        ring.decrypt(flipped)
    with pytest.raises(CryptoError, match="not configured"):
        KeyRing(new_key()).decrypt(sealed)


def test_key_file_is_created_owner_only_and_reused(tmp_path: Path) -> None:
    key_file = tmp_path / "data" / "nexus.key"
    ring = load_keyring("", key_file)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert load_keyring("", key_file).primary == ring.primary
    os.chmod(key_file, 0o644)
    with pytest.raises(CryptoError, match="chmod 600"):
        load_keyring("", key_file)


def test_configured_key_wins_and_bad_keys_are_refused(tmp_path: Path) -> None:
    ring = KeyRing(new_key())
    configured = json.loads(ring.dumps())["primary"]
    assert load_keyring(configured, tmp_path / "unused.key").primary == ring.primary
    assert not (tmp_path / "unused.key").exists()
    with pytest.raises(CryptoError, match="32 bytes"):
        load_keyring("c2hvcnQ=", tmp_path / "x.key")


async def test_store_encrypts_transparently_and_raw_rows_hold_no_plaintext(database: Database) -> None:
    attach_keyring(database.engine, KeyRing(new_key()))
    uid = await UserStore(database).ensure("alice")
    store = ConversationStore(database)
    conversation = await store.create(uid, TITLE)
    await store.add_message(uid, conversation.id, "user", SECRET)
    _, messages = await store.get(uid, conversation.id)
    assert messages[0].content == SECRET
    assert (await store.list_owned(uid))[0][0].title == TITLE
    stored = raw_values(database)
    assert len(stored) == 2
    assert all(v.startswith("nxe1:") and SECRET not in v and TITLE not in v for v in stored)


async def test_rotation_reencrypts_every_row_including_legacy_plaintext(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'nexus.db'}")
    db.migrate()
    uid = await UserStore(db).ensure("alice")
    store = ConversationStore(db)
    legacy = await store.create(uid, "written before encryption")  # no key ring yet: plaintext
    key_file = tmp_path / "nexus.key"
    old = load_keyring("", key_file)
    attach_keyring(db.engine, old)
    conversation = await store.create(uid, TITLE)
    await store.add_message(uid, conversation.id, "user", SECRET)
    assert "written before encryption" in raw_values(db)

    report = rotate(db, key_file)

    new = load_keyring("", key_file)
    assert report.old_key_id == old.primary_id and report.new_key_id == new.primary_id != old.primary_id
    assert report.rows_rewritten == 3
    assert new.previous == []  # the old key is gone from the file
    assert all(v.startswith(f"nxe1:{new.primary_id}:") for v in raw_values(db))
    attach_keyring(db.engine, new)
    assert engine_keyring(db.engine) is new
    _, messages = await store.get(uid, conversation.id)
    assert messages[0].content == SECRET
    assert (await store.get(uid, legacy.id))[0].title == "written before encryption"
    db.dispose()


async def test_server_stores_ciphertext_and_rotate_key_command_works(
    jp_fetch: Any, nexus_services: Any, nexus_data_dir: Path
) -> None:
    r = await jp_fetch("nexus/api/v1/conversations", method="POST", body=json.dumps({"title": TITLE}))
    conversation_id = json.loads(r.body)["id"]
    uid = await nexus_services.users.ensure(nexus_services.owner_name)
    await nexus_services.conversations.add_message(uid, conversation_id, "user", SECRET)
    assert stat.S_IMODE((nexus_data_dir / "nexus.key").stat().st_mode) == 0o600

    # The database file itself (and its WAL) never contains the text.
    nexus_services.database.dispose()
    blob = b"".join(p.read_bytes() for p in nexus_data_dir.glob("nexus.db*"))
    assert SECRET.encode() not in blob and TITLE.encode() not in blob

    r = await jp_fetch("nexus/api/v1/conversations", conversation_id)
    detail = json.loads(r.body)
    assert detail["title"] == TITLE and detail["messages"][0]["content"] == SECRET

    status = json.loads((await jp_fetch("nexus/api/v1/status")).body)
    assert {"name": "encryption", "state": "ok"}.items() <= next(
        c for c in status["components"] if c["name"] == "encryption"
    ).items()

    before = load_keyring("", nexus_data_dir / "nexus.key").primary_id
    nexus_services.database.dispose()
    proc = subprocess.run(
        [sys.executable, "-m", "nexus_server_ext.security.rotate_key", "--data-dir", str(nexus_data_dir)],
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "NEXUS_ENCRYPTION_KEY"},
    )
    assert proc.returncode == 0, proc.stderr
    assert "2 values re-encrypted" in proc.stdout
    after = load_keyring("", nexus_data_dir / "nexus.key")
    assert after.primary_id != before
    attach_keyring(nexus_services.database.engine, after)  # what a restart would load
    r = await jp_fetch("nexus/api/v1/conversations", conversation_id)
    assert json.loads(r.body)["messages"][0]["content"] == SECRET
