"""The vector memory's text is encrypted at rest (real chromadb, real MiniLM, the server's own key):
the files chromadb writes hold no learned secret, search still answers in plaintext, and rotating the
key re-encrypts the memory too."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from nexus_server_ext.memory.vector_memory import DOCS, EXAMPLES, Chunk, VectorMemory
from nexus_server_ext.security.crypto import CryptoError, KeyRing, load_keyring
from nexus_server_ext.security.rotate_key import rotate
from nexus_server_ext.store import Database

MARKER = "ZEBRA-7731-QUOKKA"  # in the file's text only, never in its name
EXAMPLE_PROMPT = "how do I open the KESTREL-5150 vault"
EXAMPLE_ANSWER = "vault.open(code='OSPREY-2207')"


def raw_bytes(folder: Path) -> bytes:
    """Every byte chromadb wrote: its SQLite database (and journal), the HNSW segment files."""
    return b"".join(p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file())


def stored_texts(memory: VectorMemory) -> list[str]:
    """What chromadb holds as documents and sealed metadata, as stored (no decryption)."""
    out: list[str] = []
    for name in (DOCS, EXAMPLES):
        found = memory._collection(name).get(include=["documents", "metadatas"])
        out += [d for d in found["documents"] if d is not None]
        out += [str(m.get(k)) for m in found["metadatas"] for k in ("title", "answer") if k in m]
    return out


async def test_learned_text_and_examples_are_ciphertext_on_disk_and_plaintext_in_answers(
    jp_fetch: Any, jp_root_dir: Path, nexus_data_dir: Path, nexus_services: Any
) -> None:
    (jp_root_dir / "notes.md").write_text(
        f"# Archive access\nThe archive vault opens with the code {MARKER} on weekdays.\n"
    )
    r = await jp_fetch("nexus/api/v1/memory/learn", method="POST", body=json.dumps({"path": "notes.md"}))
    job = json.loads(r.body)
    for _ in range(600):
        job = json.loads((await jp_fetch("nexus/api/v1/memory/learn", job["id"])).body)
        if job["state"] in ("succeeded", "failed"):
            break
        await asyncio.sleep(0.1)
    assert job["state"] == "succeeded" and job["chunks_added"] >= 1, job
    owner = nexus_services.owner_name
    memory = nexus_services.memory
    await memory.aadd_example(owner, EXAMPLE_PROMPT, EXAMPLE_ANSWER, 1, "generate")

    on_disk = raw_bytes(nexus_data_dir / "memory")
    assert on_disk, "chromadb wrote nothing"
    for secret in (MARKER, "KESTREL-5150", "OSPREY-2207", "Archive access"):
        assert secret.encode() not in on_disk, f"{secret} is stored in plaintext"
    assert all(
        t.startswith(f"nxe1:{nexus_services.database.keyring.primary_id}:") for t in stored_texts(memory)
    )

    found = json.loads((await jp_fetch("nexus/api/v1/memory", params={"q": "archive vault code"})).body)
    assert found["results"] and MARKER in found["results"][0]["text"]
    assert found["results"][0]["source"] == "notes.md"
    examples = await memory.asearch_examples(owner, "open the KESTREL-5150 vault")
    assert examples and examples[0].text == EXAMPLE_PROMPT
    assert examples[0].metadata["answer"] == EXAMPLE_ANSWER


def test_rotation_reencrypts_the_memory_including_text_stored_before_encryption(tmp_path: Path) -> None:
    key_file = tmp_path / "nexus.key"
    old = load_keyring("", key_file)
    folder = tmp_path / "memory"
    chunk = Chunk(
        text=f"def unlock():\n    return '{MARKER}'\n", start_line=1, end_line=2, title="def unlock"
    )
    VectorMemory(folder, keyring=old).replace_source("alice", "vault.py", "h1", [chunk])
    VectorMemory(folder, keyring=old).add_example("alice", EXAMPLE_PROMPT, EXAMPLE_ANSWER, 1, "generate")
    legacy = Chunk(text="plain text from an older version", start_line=1, end_line=1, title="legacy")
    VectorMemory(folder).replace_source("bob", "old.md", "h2", [legacy])  # no key: plaintext

    database = Database(f"sqlite:///{tmp_path / 'nexus.db'}")
    database.migrate()
    try:
        report = rotate(database, key_file, memory=VectorMemory(folder))
    finally:
        database.dispose()
    assert report.memory_records == 3

    new = load_keyring("", key_file)
    assert new.primary_id == report.new_key_id != old.primary_id and not new.previous
    memory = VectorMemory(folder, keyring=new)
    assert all(t.startswith(f"nxe1:{new.primary_id}:") for t in stored_texts(memory))
    hit = memory.search("alice", "unlock function", 1)[0]
    assert MARKER in hit.text and hit.metadata["title"] == "def unlock"
    assert memory.search("bob", "older version", 1)[0].text == legacy.text
    assert memory.search_examples("alice", EXAMPLE_PROMPT)[0].metadata["answer"] == EXAMPLE_ANSWER
    with pytest.raises(CryptoError):  # the old key reads nothing any more
        VectorMemory(folder, keyring=KeyRing(old.primary)).search("alice", "unlock function", 1)
