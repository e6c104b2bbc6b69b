"""The storage suite: runs on SQLite and on PostgreSQL (the ``database`` fixture is parametrised)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, select, text

from nexus_server_ext.store import Database, StorageError, normalise_url, redact_url
from nexus_server_ext.store.conversations import ConversationNotFound, ConversationStore
from nexus_server_ext.store.database import head_revisions
from nexus_server_ext.store.models import (
    AuditEvent,
    Base,
    Conversation,
    Feedback,
    Interaction,
    Message,
    Task,
    User,
)
from nexus_server_ext.store.users import UserStore


def test_migrations_create_exactly_the_models(database: Database, head_revision: str) -> None:
    assert database.revision() == head_revision
    assert set(database.table_names()) >= {
        "users",
        "conversations",
        "messages",
        "interactions",
        "feedback",
        "audit_events",
        "tasks",
        "alembic_version",
    }
    with database.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert diff == [], f"the migrations and the models disagree: {diff}"


def test_migrate_twice_is_harmless(database: Database, head_revision: str) -> None:
    assert database.migrate() == head_revision
    assert database.revision() == head_revision


def test_sqlite_uses_wal_and_foreign_keys(tmp_path: Any) -> None:
    db = Database(f"sqlite:///{tmp_path / 'x.db'}")
    db.migrate()
    with db.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
    db.dispose()


async def test_conversations_round_trip_and_stay_private(database: Database) -> None:
    users, store = UserStore(database), ConversationStore(database)
    alice, bob = await users.ensure("alice"), await users.ensure("bob")
    assert alice != bob and await users.ensure("alice") == alice

    conv = await store.create(alice, "Plotting help", "analysis.ipynb")
    await store.add_message(alice, conv.id, "user", "How do I plot a histogram?")
    await store.add_message(alice, conv.id, "assistant", "Use df.hist()", model="SmolLM2", provider="local")

    listed = await store.list_owned(alice)
    assert [(c.title, n) for c, n in listed] == [("Plotting help", 2)]
    assert await store.list_owned(bob) == []

    _, messages = await store.get(alice, conv.id)
    assert [(m.seq, m.role, m.content) for m in messages] == [
        (1, "user", "How do I plot a histogram?"),
        (2, "assistant", "Use df.hist()"),
    ]
    # Bob cannot read, rename, append to or delete Alice's conversation, even knowing its id.
    for attempt in (
        store.get(bob, conv.id),
        store.rename(bob, conv.id, "mine now"),
        store.add_message(bob, conv.id, "user", "hi"),
        store.delete(bob, conv.id),
    ):
        with pytest.raises(ConversationNotFound):
            await attempt
    renamed = await store.rename(alice, conv.id, "Histograms")
    assert renamed.title == "Histograms"


async def test_clear_hides_history_from_the_model_but_not_the_user(database: Database) -> None:
    users, store = UserStore(database), ConversationStore(database)
    uid = await users.ensure("carol")
    conv = await store.create(uid, "t")
    await store.add_message(uid, conv.id, "user", "old question")
    await asyncio.sleep(0.01)
    await store.clear(uid, conv.id)
    await asyncio.sleep(0.01)
    await store.add_message(uid, conv.id, "user", "new question")
    assert [m.content for m in await store.model_history(uid, conv.id)] == ["new question"]
    _, shown = await store.get(uid, conv.id)
    assert [m.content for m in shown] == ["old question", "new question"]


async def test_deleting_a_conversation_removes_its_messages(database: Database) -> None:
    users, store = UserStore(database), ConversationStore(database)
    uid = await users.ensure("dave")
    conv = await store.create(uid, "t")
    await store.add_message(uid, conv.id, "user", "x")
    await store.delete(uid, conv.id)
    count = database.call(lambda s: s.scalar(select(func.count()).select_from(Message)))
    assert count == 0


async def test_a_failed_transaction_writes_nothing(database: Database) -> None:
    users = UserStore(database)
    uid = await users.ensure("erin")

    def half_then_fail(session: Any) -> None:
        session.add(Conversation(user_id=uid, title="will vanish"))
        session.flush()
        session.add(Message(conversation_id="0" * 32, seq=1, role="user", content="orphan"))
        session.flush()  # foreign key violation

    with pytest.raises(Exception):  # noqa: B017 - the driver's IntegrityError differs per backend
        await database.run(half_then_fail)
    assert database.call(lambda s: s.scalar(select(func.count()).select_from(Conversation))) == 0


async def test_interactions_feedback_audit_and_tasks_persist(database: Database) -> None:
    uid = await UserStore(database).ensure("frank")

    def write(session: Any) -> int:
        interaction = Interaction(
            user_id=uid,
            task="code_generation",
            intent="generate",
            model="SmolLM2-135M-Instruct",
            provider="local",
            ttft_ms=120.5,
            latency_ms=900.0,
            tokens_in=40,
            tokens_out=60,
            outcome="fallback",
            fallback_path=[{"provider": "gateway", "error": "connect"}, {"provider": "local", "error": None}],
        )
        session.add(interaction)
        session.flush()
        session.add(Feedback(interaction_id=interaction.id, user_id=uid, rating=-1, comment="wrong import"))
        session.add(
            AuditEvent(username="frank", action="create", resource="/x", outcome="ok", details={"a": 1})
        )
        session.add(Task(user_id=uid, kind="index", payload={"path": "src"}))
        return interaction.id

    iid = await database.run(write)

    def read(session: Any) -> tuple[Any, ...]:
        interaction = session.get(Interaction, iid)
        feedback = session.scalar(select(Feedback).where(Feedback.interaction_id == iid))
        task = session.scalar(select(Task))
        audit = session.scalar(select(AuditEvent))
        return interaction, feedback, task, audit

    interaction, feedback, task, audit = await database.run(read)
    assert interaction.fallback_path[0]["provider"] == "gateway"
    assert (interaction.tokens_in, interaction.tokens_out, interaction.outcome) == (40, 60, "fallback")
    assert feedback.rating == -1 and feedback.comment == "wrong import"
    assert task.state == "pending" and task.payload == {"path": "src"} and len(task.id) == 32
    assert audit.details == {"a": 1} and audit.at is not None

    # Deleting the user removes their data (right to be forgotten) but keeps the audit trail.
    def delete_user(session: Any) -> None:
        session.delete(session.get(User, uid))

    await database.run(delete_user)
    counts = database.call(
        lambda s: [
            s.scalar(select(func.count()).select_from(m)) for m in (Interaction, Feedback, Task, AuditEvent)
        ]
    )
    assert counts == [0, 0, 0, 1]


async def test_concurrent_first_requests_create_one_user(database: Database) -> None:
    stores = [UserStore(database) for _ in range(6)]
    ids = await asyncio.gather(*(s.ensure("grace") for s in stores))
    assert len(set(ids)) == 1
    assert database.call(lambda s: s.scalar(select(func.count()).select_from(User))) == 1


def test_urls_are_normalised_and_passwords_hidden() -> None:
    assert normalise_url("postgres://u:p@h/db") == "postgresql+psycopg://u:p@h/db"
    assert normalise_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    shown = redact_url("postgresql+psycopg://nexus:s3cret@db.internal/nexus")
    assert "s3cret" not in shown and "nexus" in shown


def test_unreachable_database_gives_a_safe_error() -> None:
    db = Database("postgresql://nexus:hunter2@127.0.0.1:1/nexus")
    with pytest.raises(StorageError) as info:
        db.migrate()
    assert "hunter2" not in str(info.value)
    assert "127.0.0.1" in str(info.value)


# -- the start-up fast path: a current schema costs one query, not Alembic ----------------------------
MIGRATE_AND_REPORT = (
    "import sys; from nexus_server_ext.store.database import Database; "
    "print(Database(sys.argv[1]).migrate()); "
    "print(','.join(m for m in ('alembic', 'sqlalchemy') if m in sys.modules))"
)


def migrate_in_fresh_process(url: str) -> tuple[str, set[str]]:
    """(revision migrate() returned, which of alembic / sqlalchemy it imported), as a server start sees it."""
    out = subprocess.run(
        [sys.executable, "-c", MIGRATE_AND_REPORT, url], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    return out[0], set(filter(None, out[1].split(",")))


def test_the_newest_revision_is_read_from_the_scripts_as_alembic_reads_it(head_revision: str) -> None:
    assert head_revisions() == {head_revision}


def test_an_applied_schema_is_not_migrated_again(database_url: str, head_revision: str) -> None:
    first = Database(database_url)
    assert first.migrate() == head_revision  # a new database: Alembic creates the schema
    first.dispose()
    revision, imported = migrate_in_fresh_process(database_url)
    assert revision == head_revision
    assert "alembic" not in imported
    if database_url.startswith("sqlite"):
        assert "sqlalchemy" not in imported  # one sqlite3 query


def test_a_schema_behind_the_scripts_is_migrated(tmp_path: Any, head_revision: str) -> None:
    from alembic import command

    url = f"sqlite:///{tmp_path / 'old.db'}"
    old = Database(url)
    with old.engine.begin() as connection:
        command.upgrade(old._alembic_config(connection), "0001")  # a database from the first release
    assert old.revision() == "0001" and "voice_profiles" not in old.table_names()
    old.dispose()
    revision, imported = migrate_in_fresh_process(url)
    assert revision == head_revision and "alembic" in imported
    migrated = Database(url)
    assert migrated.revision() == head_revision and "voice_profiles" in migrated.table_names()
    migrated.dispose()


def test_credentials_can_come_from_the_environment(postgres_url: str, monkeypatch: Any) -> None:
    """``c.NexusApp.database_url = "postgresql://nexus:${NEXUS_DB_PASSWORD}@host/db"``: the parts named
    ``${VAR}`` are taken from the environment (URL-quoted), not written into the config file."""
    from sqlalchemy.engine import make_url

    real = make_url(postgres_url)
    monkeypatch.setenv("NEXUS_DB_USER", str(real.username))
    templated = postgres_url.replace(f"//{real.username}", "//${NEXUS_DB_USER}", 1)
    assert "${NEXUS_DB_USER}" in templated
    assert Database(templated).migrate()  # connected as the user the environment names
    monkeypatch.setenv("NEXUS_DB_PASSWORD", "p@ss/w:rd")
    url = normalise_url("postgresql://nexus:${NEXUS_DB_PASSWORD}@db.example.org/nexus")
    assert make_url(url).password == "p@ss/w:rd"  # quoted: "@" and "/" do not break the URL
    assert "p@ss" not in redact_url(url)
    assert normalise_url("postgresql://u:${NEXUS_UNSET_VAR:-fallback}@h/db").endswith("u:fallback@h/db")
