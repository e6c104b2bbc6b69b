"""The database service: one engine, one session factory, migrations at start.

SQLite (a file in the Jupyter data directory, WAL mode) is the embedded default;
PostgreSQL through psycopg 3 is chosen by URL. Every query runs in a worker
thread (``Database.run``) so the Jupyter server's event loop never waits on SQL.

Start-up stays light: SQLAlchemy is imported, and the engine created, on first
use (``engine``), and ``migrate`` compares the stored revision with the newest
migration script before it loads Alembic, which it then does only when the
schema is behind. On SQLite that comparison is one query through the standard
library's ``sqlite3``.
"""

from __future__ import annotations

import ast
import asyncio
import logging
import os
import re
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session, sessionmaker

    from ..security.keyring import KeyRing

T = TypeVar("T")
log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
_ASSIGNMENT = re.compile(r"^(revision|down_revision)\s*(?::[^=]*)?=\s*(.+?)\s*$", re.M)


class StorageError(RuntimeError):
    """The database cannot be reached or migrated; the message is safe to show."""


_ENV_VAR = re.compile(r"\$\{(\w+)(?::-([^}]*))?\}")


def expand_env(url: str) -> str:
    """``${VAR}`` / ``${VAR:-default}`` in a database URL from the environment, so a password need not
    be written into a config file; a value is URL-quoted (a password may hold ``@`` or ``/``). An unset
    variable without a default becomes empty, with a warning that names it."""

    def value(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        found = os.environ.get(name)
        if found is None:
            if default is None:
                log.warning("NEXUS: the database URL names ${%s}, which is not set", name)
            found = default or ""
        return quote(found, safe="")

    return _ENV_VAR.sub(value, url)


def normalise_url(url: str) -> str:
    """Accept the URLs people paste (``postgres://``, ``postgresql://``) and use psycopg 3 for them,
    with ``${VAR}`` taken from the environment."""
    url = expand_env(url)
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def redact_url(url: str) -> str:
    """The URL with its password hidden, for logs and ``/status``."""
    if "@" not in url:  # no credentials to hide (the SQLite default): no need for SQLAlchemy
        return url
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@cache
def head_revisions() -> frozenset[str]:
    """The newest migration(s), read from the scripts' ``revision`` lines without importing Alembic."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for script in MIGRATIONS_DIR.joinpath("versions").glob("*.py"):
        for name, value in _ASSIGNMENT.findall(script.read_text(encoding="utf-8")):
            parsed = ast.literal_eval(value)
            if name == "revision":
                revisions.add(parsed)
            elif isinstance(parsed, str):
                parents.add(parsed)
            elif parsed:
                parents.update(parsed)
    return frozenset(revisions - parents)


class Database:
    """Engine + session factory + Alembic migrations for one database URL."""

    def __init__(self, url: str, *, echo: bool = False, pool_size: int = 5) -> None:
        self.url = normalise_url(url)
        scheme = self.url.split(":", 1)[0]
        self.backend = scheme.split("+", 1)[0]
        self.echo = echo
        self.pool_size = pool_size
        self.sqlite_file = _sqlite_file(self.url) if self.backend == "sqlite" else None
        if self.sqlite_file is not None:
            self.sqlite_file.parent.mkdir(parents=True, exist_ok=True)
        self._keyring: KeyRing | None = None
        self._engine: Engine | None = None
        self._sessions: sessionmaker[Session] | None = None
        self._engine_lock = threading.Lock()
        self._migrate_lock = threading.Lock()

    @property
    def display_url(self) -> str:
        return redact_url(self.url)

    @property
    def public_url(self) -> str:
        """What API responses show: no password, and a SQLite file by its name only (a response never
        carries a filesystem path; the server log has the full ``display_url``)."""
        if self.sqlite_file is not None:
            return f"sqlite:///.../{self.sqlite_file.name}"
        return self.display_url

    # -- engine, created on first use -------------------------------------------------------------
    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._create_engine()
        assert self._engine is not None
        return self._engine

    @property
    def sessions(self) -> sessionmaker[Session]:
        if self._sessions is None:
            self._create_engine()
        assert self._sessions is not None
        return self._sessions

    def _create_engine(self) -> None:
        with self._engine_lock:
            if self._engine is not None:
                return
            from sqlalchemy import create_engine, event
            from sqlalchemy.engine import make_url
            from sqlalchemy.orm import sessionmaker

            kwargs: dict[str, Any] = {"echo": self.echo, "pool_pre_ping": True}
            if self.backend == "sqlite":
                database = make_url(self.url).database
                if database and database != ":memory:":
                    Path(database).parent.mkdir(parents=True, exist_ok=True)
                kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
            elif self.backend == "postgresql":
                kwargs["pool_size"] = self.pool_size
                kwargs["connect_args"] = {"connect_timeout": 5}
            engine = create_engine(self.url, **kwargs)
            if self.backend == "sqlite":
                event.listen(engine, "connect", _sqlite_pragmas)
            if self._keyring is not None:
                from ..security.crypto import attach_keyring

                attach_keyring(engine, self._keyring)
            self._sessions = sessionmaker(engine, expire_on_commit=False)
            self._engine = engine

    @property
    def started(self) -> bool:
        """Whether the engine exists (something has used the database in this process)."""
        return self._engine is not None

    @property
    def keyring(self) -> KeyRing | None:
        """The key ring of encryption at rest (the vector memory encrypts its text with it too)."""
        return self._keyring

    def use_keyring(self, ring: KeyRing) -> None:
        """Encrypt ``EncryptedText`` columns with ``ring`` (now, or when the engine is created)."""
        self._keyring = ring
        if self._engine is not None:
            from ..security.crypto import attach_keyring

            attach_keyring(self._engine, ring)

    # -- schema -----------------------------------------------------------------------------------
    def _alembic_config(self, connection: Any) -> Any:
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
        cfg.attributes["connection"] = connection
        return cfg

    def migrate(self) -> str:
        """Bring the schema to the newest revision (idempotent); returns that revision.

        When the stored revision already is the newest, this is one query: Alembic (and, on
        SQLite, SQLAlchemy) is not even imported.
        """
        with self._migrate_lock:
            try:
                if self.stored_revisions() == head_revisions():
                    return ",".join(sorted(head_revisions()))
                from alembic import command

                with self.engine.begin() as connection:
                    command.upgrade(self._alembic_config(connection), "head")
                return self.revision() or "base"
            except Exception as exc:  # the driver's message can hold the password
                raise StorageError(
                    f"cannot prepare the NEXUS database at {self.display_url}: {type(exc).__name__}"
                ) from exc

    def stored_revisions(self) -> frozenset[str]:
        """The revision(s) in ``alembic_version``; empty for a new database. Raises when unreachable."""
        if self.sqlite_file is not None:
            if not self.sqlite_file.exists():
                return frozenset()
            connection = sqlite3.connect(self.sqlite_file, timeout=30)
            try:
                rows = connection.execute("SELECT version_num FROM alembic_version").fetchall()
            except sqlite3.OperationalError as exc:
                if "no such table" not in str(exc):
                    raise
                return frozenset()
            finally:
                connection.close()
            return frozenset(str(row[0]) for row in rows)
        from sqlalchemy import inspect, text

        with self.engine.connect() as conn:
            if not inspect(conn).has_table("alembic_version"):
                return frozenset()
            return frozenset(str(r[0]) for r in conn.execute(text("SELECT version_num FROM alembic_version")))

    def revision(self) -> str | None:
        """The schema's revision (None for a new database); several heads are joined with commas."""
        return ",".join(sorted(self.stored_revisions())) or None

    def table_names(self) -> list[str]:
        from sqlalchemy import inspect

        return sorted(inspect(self.engine).get_table_names())

    def ping(self) -> None:
        from sqlalchemy import text

        with self.engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    # -- sessions ---------------------------------------------------------------------------------
    @contextmanager
    def session(self) -> Iterator[Session]:
        """A transaction: committed when the block ends, rolled back on any error (nothing half-written)."""
        with self.sessions() as session, session.begin():
            yield session

    def call(self, fn: Callable[[Session], T]) -> T:
        with self.session() as session:
            return fn(session)

    async def run(self, fn: Callable[[Session], T]) -> T:
        """Run ``fn(session)`` in one transaction on a worker thread."""
        return await asyncio.to_thread(self.call, fn)

    def dispose(self) -> None:
        if self._engine is not None:
            self._engine.dispose()


def _sqlite_file(url: str) -> Path | None:
    """The file of a plain ``sqlite:///path`` URL; None for in-memory databases or URLs with options."""
    _, _, rest = url.partition(":///")
    if not rest or "?" in rest or rest == ":memory:":
        return None
    return Path(rest)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets the chat read while a background task writes; foreign keys make cascades real.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()
