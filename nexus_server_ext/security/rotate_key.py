"""Rotate the encryption key: ``python -m nexus_server_ext.security.rotate_key``.

Steps, each safe to interrupt: (1) write the key file with a new primary key
and the old ones kept for reading; (2) re-encrypt every ``EncryptedText``
column in one transaction (rows written before encryption was enabled are
encrypted now too); (3) re-encrypt the vector memory's text (learned chunks,
accepted examples) in chromadb, the embedded one in the data dir or the Chroma
server the server uses (``NEXUS_CHROMA_URL``, or ``--chroma-host``); (4) rewrite the key file with the new
key alone. A crash after (1) leaves a key ring that still reads every row and
record; rerunning finishes.

Stop the Jupyter server first: a server still running with the old key
would write rows the new key cannot read. Start it again afterwards.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ..memory.vector_memory import VectorMemory
from ..store.database import Database
from .crypto import KEY_FILE_NAME, CryptoError, EncryptedText, KeyRing, load_keyring, new_key, write_private


@dataclass
class RotationReport:
    old_key_id: str
    new_key_id: str
    rows_rewritten: int
    columns: list[str]
    memory_records: int = 0


def encrypted_columns() -> list[tuple[str, str]]:
    """(table, column) of every ``EncryptedText`` column in the NEXUS schema."""
    from ..store.models import Base

    return [
        (table.name, column.name)
        for table in Base.metadata.sorted_tables
        for column in table.columns
        if isinstance(column.type, EncryptedText)
    ]


def reencrypt(database: Database, old: KeyRing, new: KeyRing) -> tuple[int, list[str]]:
    """Rewrite every encrypted value under ``new``'s primary key; returns (rows rewritten, columns)."""
    from ..store.models import Base

    done: list[str] = []

    def rewrite(session: Session) -> int:
        count = 0
        for table_name, column_name in encrypted_columns():
            table = Base.metadata.tables[table_name]
            pk = next(iter(table.primary_key.columns))
            # Read and write the raw stored text: the column type's own processing is bypassed by
            # selecting through a plain text cast of the same column.
            raw = table.c[column_name].cast(EncryptedText().impl)
            for row_id, stored in session.execute(select(pk, raw)):
                if stored is None or new.is_current(stored):
                    continue
                plaintext = old.decrypt(stored)
                session.execute(
                    update(table).where(pk == row_id).values({column_name: new.encrypt(plaintext)})
                )
                count += 1
            done.append(f"{table_name}.{column_name}")
        return count

    # The engine must not transform values on its own while we rewrite them.
    from .crypto import attach_keyring, engine_keyring

    attached = engine_keyring(database.engine)
    attach_keyring(database.engine, None)
    try:
        rows = database.call(rewrite)
    finally:
        attach_keyring(database.engine, attached)
    return rows, done


def rotate(
    database: Database, key_file: Path, configured_key: str = "", memory: VectorMemory | None = None
) -> RotationReport:
    old = load_keyring(configured_key, key_file)
    new_primary = new_key()
    transitional = KeyRing(new_primary, [old.primary, *old.previous])
    write_private(key_file, transitional.dumps())
    rows, columns = reencrypt(database, old, KeyRing(new_primary))
    records = memory.reencrypt(old, KeyRing(new_primary)) if memory is not None else 0
    final = KeyRing(new_primary)
    write_private(key_file, final.dumps())
    return RotationReport(old.primary_id, final.primary_id, rows, columns, records)


def open_memory(
    data_dir: Path, host: str | None = None, port: int | None = None, ssl: bool | None = None
) -> VectorMemory | None:
    """The vector memory the server uses: a Chroma server, or the embedded one in the data dir (None
    when there is none). Unset arguments take ``VectorMemory``'s defaults (``NEXUS_CHROMA_URL``)."""
    given: dict[str, Any] = {"chroma_host": host, "chroma_port": port, "chroma_ssl": ssl}
    memory = VectorMemory(data_dir / "memory", **{k: v for k, v in given.items() if v is not None})
    return memory if memory.chroma_host or (data_dir / "memory").is_dir() else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m nexus_server_ext.security.rotate_key",
        description="Re-encrypt NEXUS's stored conversation text and secrets under a new AES-256 key.",
    )
    parser.add_argument("--data-dir", default=os.environ.get("NEXUS_DATA_DIR", ""), help="NEXUS data dir")
    parser.add_argument("--database-url", default=os.environ.get("NEXUS_DATABASE_URL", ""))
    parser.add_argument("--key-file", default="", help=f"default: <data dir>/{KEY_FILE_NAME}")
    parser.add_argument(
        "--chroma-host",
        default=os.environ.get("NEXUS_CHROMA_HOST") or None,
        help="Chroma server of the vector memory (default: the host of NEXUS_CHROMA_URL, else the "
        "embedded one in <data dir>/memory)",
    )
    parser.add_argument(
        "--chroma-port", type=int, default=None, help="default: NEXUS_CHROMA_URL's, else 8000"
    )
    parser.add_argument("--chroma-ssl", action="store_true", default=None)
    args = parser.parse_args(argv)

    data_dir = Path(args.data_dir) if args.data_dir else _default_data_dir()
    url = args.database_url or f"sqlite:///{data_dir / 'nexus.db'}"
    key_file = Path(args.key_file) if args.key_file else data_dir / KEY_FILE_NAME
    configured = os.environ.get("NEXUS_ENCRYPTION_KEY", "")
    if configured:
        print(
            "NEXUS_ENCRYPTION_KEY is set: rotation writes the new key to the key file; "
            "unset the variable (or set it to the new key) before restarting the server.",
            file=sys.stderr,
        )
    database = Database(url)
    try:
        database.migrate()
        memory = open_memory(data_dir, args.chroma_host, args.chroma_port, args.chroma_ssl)
        report = rotate(database, key_file, configured, memory)
    except CryptoError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        database.dispose()
    print(
        f"rotated key {report.old_key_id} -> {report.new_key_id}: {report.rows_rewritten} values "
        f"re-encrypted in {', '.join(report.columns)}, {report.memory_records} vector-memory records; "
        f"key file {key_file}"
    )
    return 0


def _default_data_dir() -> Path:
    from jupyter_core.paths import jupyter_data_dir

    return Path(jupyter_data_dir()) / "nexus"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
