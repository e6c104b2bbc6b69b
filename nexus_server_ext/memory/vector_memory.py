"""``VectorMemory``: per-user semantic memory in chromadb (learned files and accepted examples).

Why this shape:
- embedded ``PersistentClient`` by default (a folder in the NEXUS data dir), an
  ``HttpClient`` to a Chroma server when ``chroma_host`` is set (or ``NEXUS_CHROMA_URL``),
  so a team can share one;
- every read and delete goes through ``_where(owner, ...)``: there is no method
  that queries without an owner, so one user can never retrieve another's chunks;
- HNSW parameters are set on purpose (cosine space, ``ef_search`` well above the
  ``k`` we ask for, a generous ``ef_construction``): chromadb's defaults lost true
  nearest neighbours on near-duplicate corpora; ``bench/memory.py`` measures recall;
- the text is encrypted at rest with the key that encrypts conversations (``keyring``):
  chunk text, chunk titles and the answers of accepted examples are stored as
  ciphertext, the embeddings stay clear (they are computed here, from the
  plaintext, so chromadb never sees it); owner and source path stay clear
  because every query filters on them. ``security/rotate_key.py`` re-encrypts;
- all methods block (embedding, disk): callers use the ``a*`` wrappers or a thread.

Its settings are ``c.VectorMemory.*`` traits; ``NexusApp.memory_class`` replaces the class.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import SplitResult, urlsplit

from traitlets import Bool, Int, Unicode, default
from traitlets.config import LoggingConfigurable

if TYPE_CHECKING:
    from ..security.keyring import KeyRing

DOCS = "nexus_memory"
EXAMPLES = "nexus_examples"
ADD_BATCH = 256
# Metadata fields that hold user text: encrypted at rest like the documents.
SEALED_METADATA = ("title", "answer")


@dataclass(frozen=True)
class HnswParams:
    ef_construction: int = 200
    ef_search: int = 128
    max_neighbors: int = 32

    def configuration(self) -> dict[str, Any]:
        return {
            "hnsw": {
                "space": "cosine",
                "ef_construction": self.ef_construction,
                "ef_search": self.ef_search,
                "max_neighbors": self.max_neighbors,
            }
        }


@dataclass(frozen=True)
class Chunk:
    """A piece of a learned file: its text and where it came from."""

    text: str
    start_line: int
    end_line: int
    cell_id: str | None = None
    title: str = ""


@dataclass
class Hit:
    source: str
    text: str
    score: float
    start_line: int | None = None
    end_line: int | None = None
    cell_id: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def lines(self) -> str | None:
        if self.cell_id or self.start_line is None:
            return None
        return f"{self.start_line}-{self.end_line}"

    @property
    def citation(self) -> str:
        where = f"cell {self.cell_id}" if self.cell_id else f"lines {self.lines}" if self.lines else ""
        return f"{self.source} ({where})" if where else self.source


def chroma_url() -> SplitResult:
    """``NEXUS_CHROMA_URL`` (the one variable deployments set for a Chroma server), parsed."""
    raw = os.environ.get("NEXUS_CHROMA_URL", "").strip()
    url = urlsplit(raw if "://" in raw or not raw else f"http://{raw}")
    if raw and (url.scheme not in ("http", "https") or not url.hostname):
        raise ValueError(f"NEXUS_CHROMA_URL must look like http://HOST:PORT, not {raw!r}")
    return url


def _id(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:32]


class VectorMemory(LoggingConfigurable):
    chroma_host = Unicode(
        help="Host of a Chroma server for the vector memory (a team's shared memory). Empty means an "
        "embedded chromadb in data_dir/memory. Default: the host of env NEXUS_CHROMA_URL "
        "(e.g. http://nexus-chroma:8000, which also sets chroma_port and chroma_ssl).",
    ).tag(config=True)
    chroma_port = Int(
        help="Port of the Chroma server (with chroma_host). Default: NEXUS_CHROMA_URL's port, else 8000."
    ).tag(config=True)
    chroma_ssl = Bool(
        help="Use HTTPS to reach the Chroma server. Default: true when NEXUS_CHROMA_URL is https://."
    ).tag(config=True)
    hnsw_ef_search = Int(
        128,
        help="HNSW search breadth; well above the results asked for keeps recall@5 at exact-search "
        "level (bench/memory.py measures it).",
    ).tag(config=True)
    hnsw_ef_construction = Int(200, help="HNSW construction breadth (index quality vs ingest speed).").tag(
        config=True
    )
    hnsw_max_neighbors = Int(32, help="HNSW links per vector (graph degree, 'M').").tag(config=True)

    @default("chroma_host")
    def _default_chroma_host(self) -> str:
        return chroma_url().hostname or ""

    @default("chroma_port")
    def _default_chroma_port(self) -> int:
        url = chroma_url()
        return url.port or (443 if url.scheme == "https" else 8000)

    @default("chroma_ssl")
    def _default_chroma_ssl(self) -> bool:
        return chroma_url().scheme == "https"

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        collection_prefix: str = "",
        keyring: KeyRing | None = None,
        **kwargs: Any,
    ) -> None:
        """``path``: the embedded store's folder; ``kwargs``: ``parent``/``config`` or the settings."""
        super().__init__(**kwargs)
        self.path = Path(path) if path else None
        self.prefix = collection_prefix
        self.keyring = keyring
        self._embedding_function: Any = None
        self._lock = threading.Lock()
        self._client: Any = None
        self._collections: dict[str, Any] = {}

    @property
    def hnsw(self) -> HnswParams:
        return HnswParams(self.hnsw_ef_construction, self.hnsw_ef_search, self.hnsw_max_neighbors)

    @property
    def backend(self) -> str:
        if self.chroma_host:
            return f"chroma server {self.chroma_host}:{self.chroma_port}"
        return "embedded chromadb"

    # -- plumbing -------------------------------------------------------------------------------
    def _collection(self, name: str) -> Any:
        with self._lock:
            if name in self._collections:
                return self._collections[name]
            import chromadb
            from chromadb.config import Settings

            from .embedding_function import MiniLMEmbeddingFunction

            if self._client is None:
                settings = Settings(anonymized_telemetry=False)
                if self.chroma_host:
                    self._client = chromadb.HttpClient(
                        host=self.chroma_host, port=self.chroma_port, ssl=self.chroma_ssl, settings=settings
                    )
                else:
                    assert self.path is not None, "an embedded memory needs a path"
                    self.path.mkdir(parents=True, exist_ok=True)
                    self._client = chromadb.PersistentClient(path=str(self.path), settings=settings)
            if self._embedding_function is None:
                self._embedding_function = MiniLMEmbeddingFunction()
            collection = self._client.get_or_create_collection(
                self.prefix + name,
                embedding_function=self._embedding_function,
                configuration=self.hnsw.configuration(),
            )
            self._collections[name] = collection
            return collection

    def _embed(self, texts: list[str]) -> list[Any]:
        """Embeddings of the plaintext: chromadb is handed them with the ciphertext, never the text."""
        return list(self._embedding_function(texts)) if texts else []

    def _seal(self, text: str) -> str:
        return self.keyring.encrypt(text) if self.keyring is not None else text

    def _open(self, stored: Any) -> Any:
        from ..security.keyring import CryptoError, is_encrypted

        if not isinstance(stored, str) or not is_encrypted(stored):
            return stored  # stored before encryption at rest; rotate_key encrypts it
        if self.keyring is None:
            raise CryptoError("the vector memory holds encrypted text but no encryption key is configured")
        return self.keyring.decrypt(stored)

    def _open_metadata(self, meta: dict[str, Any]) -> dict[str, Any]:
        return {
            k: self._open(v) if k in SEALED_METADATA and isinstance(v, str) else v for k, v in meta.items()
        }

    @staticmethod
    def _where(owner: str, **extra: Any) -> dict[str, Any]:
        """The owner filter every query carries, and-ed with any other condition."""
        if not owner:
            raise ValueError("memory access needs an owner")
        conditions: list[dict[str, Any]] = [{"owner": owner}]
        conditions += [{k: v} for k, v in extra.items() if v is not None]
        return conditions[0] if len(conditions) == 1 else {"$and": conditions}

    # -- learned files --------------------------------------------------------------------------
    def replace_source(self, owner: str, source: str, file_hash: str, chunks: list[Chunk]) -> int:
        """Drop the source's old chunks and store the new ones; returns how many were stored."""
        collection = self._collection(DOCS)
        collection.delete(where=self._where(owner, source=source))
        ids, docs, metas = [], [], []
        for i, chunk in enumerate(chunks):
            ids.append(_id(owner, source, str(i)))
            docs.append(chunk.text)
            meta: dict[str, Any] = {
                "owner": owner,
                "source": source,
                "file_hash": file_hash,
                "start_line": chunk.start_line,
                "end_line": chunk.end_line,
                "title": self._seal(chunk.title),
            }
            if chunk.cell_id:
                meta["cell_id"] = chunk.cell_id
            metas.append(meta)
        for start in range(0, len(ids), ADD_BATCH):
            end = start + ADD_BATCH
            collection.add(
                ids=ids[start:end],
                embeddings=self._embed(docs[start:end]),
                documents=[self._seal(d) for d in docs[start:end]],
                metadatas=metas[start:end],
            )
        return len(ids)

    def delete_source(self, owner: str, source: str | None = None) -> int:
        """Forget one source (or, with ``source=None``, every learned file of the owner)."""
        collection = self._collection(DOCS)
        where = self._where(owner, source=source)
        found = collection.get(where=where, include=[])
        if found["ids"]:
            collection.delete(ids=found["ids"])
        return len(found["ids"])

    def delete_folder(self, owner: str, folder: str) -> int:
        """Forget every file the owner learned under ``folder`` (relative to the root)."""
        prefix = folder.rstrip("/") + "/"
        return sum(self.delete_source(owner, s) for s in self.sources(owner) if s.startswith(prefix))

    def sources(self, owner: str) -> dict[str, str]:
        """{source path: content hash} of everything the owner has learned."""
        found = self._collection(DOCS).get(where=self._where(owner), include=["metadatas"])
        return {m["source"]: m["file_hash"] for m in found["metadatas"] or []}

    def count(self, owner: str) -> int:
        return len(self._collection(DOCS).get(where=self._where(owner), include=[])["ids"])

    def search(self, owner: str, query: str, k: int = 5, source: str | None = None) -> list[Hit]:
        return self._query(DOCS, owner, query, k, source=source)

    def nothing_stored(self) -> bool:
        """True when this embedded memory has never been written: its folder holds no database. The
        first question in a fresh lab then needs neither chromadb (seconds to import on a small
        machine, maybe still importing for the warm-up) nor an embedding to learn that."""
        if self.chroma_host or self._client is not None or self.path is None:
            return False
        return not (self.path / "chroma.sqlite3").exists()

    def _query(self, name: str, owner: str, query: str, k: int, **extra: Any) -> list[Hit]:
        if self.nothing_stored():
            return []
        collection = self._collection(name)
        result = collection.query(
            query_texts=[query],
            n_results=max(1, k),
            where=self._where(owner, **extra),
            include=["documents", "metadatas", "distances"],
        )
        hits = []
        for doc, meta, dist in zip(
            result["documents"][0], result["metadatas"][0], result["distances"][0], strict=True
        ):
            if meta.get("owner") != owner:  # belt and braces: never hand out another user's chunk
                continue
            meta = self._open_metadata(meta)
            hits.append(
                Hit(
                    source=str(meta.get("source", "")),
                    text=self._open(doc),
                    score=round(1.0 - float(dist), 4),
                    start_line=meta.get("start_line"),
                    end_line=meta.get("end_line"),
                    cell_id=meta.get("cell_id"),
                    metadata=dict(meta),
                )
            )
        return hits

    # -- accepted examples (few-shot) -----------------------------------------------------------
    def add_example(self, owner: str, prompt: str, answer: str, interaction_id: int, intent: str) -> None:
        collection = self._collection(EXAMPLES)
        collection.upsert(
            ids=[_id(owner, "example", str(interaction_id))],
            embeddings=self._embed([prompt]),
            documents=[self._seal(prompt)],
            metadatas=[
                {
                    "owner": owner,
                    "source": f"interaction {interaction_id}",
                    "answer": self._seal(answer),
                    "intent": intent,
                    "interaction_id": interaction_id,
                }
            ],
        )

    def search_examples(self, owner: str, query: str, k: int = 2, min_score: float = 0.6) -> list[Hit]:
        if self.nothing_stored() or not self._collection(EXAMPLES).count():
            return []
        return [h for h in self._query(EXAMPLES, owner, query, k) if h.score >= min_score]

    # -- key rotation -------------------------------------------------------------------------------
    def reencrypt(self, old: KeyRing, new: KeyRing) -> int:
        """Re-encrypt every stored text under ``new``'s primary key (plaintext from before encryption
        at rest included); the embeddings are written back unchanged. Returns the records rewritten."""
        self.keyring = old
        rewritten = 0
        for name in (DOCS, EXAMPLES):
            collection = self._collection(name)
            ids = collection.get(include=[])["ids"]
            for start in range(0, len(ids), ADD_BATCH):
                page = collection.get(
                    ids=ids[start : start + ADD_BATCH], include=["documents", "metadatas", "embeddings"]
                )
                changed = [
                    i
                    for i, (doc, meta) in enumerate(zip(page["documents"], page["metadatas"], strict=True))
                    if not _current(new, doc) or not all(_current(new, meta.get(k)) for k in SEALED_METADATA)
                ]
                if not changed:
                    continue
                collection.update(
                    ids=[page["ids"][i] for i in changed],
                    embeddings=[page["embeddings"][i] for i in changed],
                    documents=[new.encrypt(self._open(page["documents"][i])) for i in changed],
                    metadatas=[_reseal(new, self._open_metadata(page["metadatas"][i])) for i in changed],
                )
                rewritten += len(changed)
        self.keyring = new
        return rewritten

    # -- async wrappers (the tornado loop must never embed or touch disk) -----------------------
    async def asearch(self, owner: str, query: str, k: int = 5) -> list[Hit]:
        return await asyncio.to_thread(self.search, owner, query, k)

    async def asearch_examples(self, owner: str, query: str, k: int = 2) -> list[Hit]:
        return await asyncio.to_thread(self.search_examples, owner, query, k)

    async def aadd_example(
        self, owner: str, prompt: str, answer: str, interaction_id: int, intent: str
    ) -> None:
        await asyncio.to_thread(self.add_example, owner, prompt, answer, interaction_id, intent)

    async def adelete_source(self, owner: str, source: str | None = None) -> int:
        return await asyncio.to_thread(self.delete_source, owner, source)

    async def adelete_folder(self, owner: str, folder: str) -> int:
        return await asyncio.to_thread(self.delete_folder, owner, folder)


def _current(ring: KeyRing, value: Any) -> bool:
    """True when ``value`` needs no rewrite: absent, or already sealed with the ring's primary key."""
    return not isinstance(value, str) or ring.is_current(value)


def _reseal(ring: KeyRing, meta: dict[str, Any]) -> dict[str, Any]:
    return {k: ring.encrypt(v) if k in SEALED_METADATA and isinstance(v, str) else v for k, v in meta.items()}
