"""Benchmark the vector memory: ingest rate, query latency, and recall@5 against exact search.

Prints one JSON object. The corpus is the project's own source, docs and tests,
chunked the way ``/learn`` chunks them and repeated with small edits until it
has at least ``--chunks`` chunks (near-duplicates are exactly what made
chromadb's default HNSW settings miss true neighbours). Queries are chunk
titles and first lines. "Exact" is brute-force cosine similarity over the very
embeddings chromadb stored, so recall measures only the index. Two HNSW
settings run in the same process: chromadb's defaults (baseline) and NEXUS's.

    python bench/memory.py --chunks 2000 --queries 200
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from nexus_server_ext.memory.chunking import SUFFIXES, chunk_file
from nexus_server_ext.memory.vector_memory import Chunk, HnswParams, VectorMemory

ROOT = Path(__file__).resolve().parents[1]
TIE_EPS = 1e-5
CHROMA_DEFAULTS = HnswParams(ef_construction=100, ef_search=100, max_neighbors=16)


def corpus(minimum: int) -> list[tuple[str, Chunk]]:
    files = [
        p
        for folder in ("nexus_server_ext", "tests", "docs", "bench")
        for p in sorted((ROOT / folder).rglob("*"))
        if p.suffix in SUFFIXES and p.is_file() and "labextension" not in p.parts
    ]
    base = [(p.relative_to(ROOT).as_posix(), c) for p in files for c in chunk_file(p.name, p.read_text())]
    out, copy = [], 0
    while len(out) < minimum:
        for source, chunk in base:
            text = chunk.text if copy == 0 else f"{chunk.text}\n# variant {copy}"
            out.append(
                (f"{source}~{copy}" if copy else source, Chunk(text, chunk.start_line, chunk.end_line))
            )
        copy += 1
    return out[: max(minimum, len(base))]


def run(
    params: HnswParams, chunks: list[tuple[str, Chunk]], queries: list[str], k: int, vectors: Any = None
) -> tuple[dict[str, Any], Any]:
    """Index and query once; with ``vectors`` (from an earlier run) the embedding step is skipped."""
    with tempfile.TemporaryDirectory() as folder:
        memory = VectorMemory(
            Path(folder),
            chroma_host="",  # the embedded store, whatever NEXUS_CHROMA_URL says
            hnsw_ef_construction=params.ef_construction,
            hnsw_ef_search=params.ef_search,
            hnsw_max_neighbors=params.max_neighbors,
        )
        started = time.perf_counter()
        if vectors is None:
            by_source: dict[str, list[Chunk]] = {}
            for source, chunk in chunks:
                by_source.setdefault(source, []).append(chunk)
            for source, items in by_source.items():
                memory.replace_source("bench", source, "h", items)
        else:
            collection = memory._collection("nexus_memory")
            ids, embeddings = vectors
            for start in range(0, len(ids), 256):
                collection.add(
                    ids=ids[start : start + 256],
                    embeddings=embeddings[start : start + 256],
                    metadatas=[{"owner": "bench"}] * len(ids[start : start + 256]),
                )
        ingest_s = time.perf_counter() - started

        collection = memory._collection("nexus_memory")
        stored = collection.get(where={"owner": "bench"}, include=["embeddings"])
        ids = stored["ids"]
        matrix = np.asarray(stored["embeddings"], dtype=np.float32)
        from nexus_server_ext.ai.embeddings import get_embedder

        query_vectors = np.asarray(get_embedder().embed_sync(queries), dtype=np.float32)
        latencies, agree, strict, overlap = [], 0, 0, 0.0
        position = {id_: i for i, id_ in enumerate(ids)}
        for vector in query_vectors:
            t = time.perf_counter()
            result = collection.query(
                query_embeddings=[vector.tolist()], n_results=k, where={"owner": "bench"}, include=[]
            )
            latencies.append((time.perf_counter() - t) * 1000)
            got = result["ids"][0]
            scores = matrix @ vector
            exact = {ids[i] for i in np.argsort(-scores)[:k]}
            strict += set(got) == exact
            # tie-aware: a result is right when it scores as well as the exact k-th (float noise between
            # near-duplicate chunks decides the order among equals, not the index)
            kth = float(np.sort(scores)[-k])
            right = sum(1 for i in got if scores[position[i]] >= kth - TIE_EPS)
            agree += right == k
            overlap += right / k
        latencies.sort()
        report = {
            "hnsw": params.__dict__,
            "chunks": len(ids),
            "ingest_s": round(ingest_s, 2),
            "ingest_includes_embedding": vectors is None,
            "chunks_per_s": round(len(ids) / ingest_s, 1),
            "query_p50_ms": round(statistics.median(latencies), 2),
            "query_p95_ms": round(latencies[int(0.95 * (len(latencies) - 1))], 2),
            "recall_at_5": round(overlap / len(queries), 4),
            "queries_top5_exact": round(agree / len(queries), 4),
            "queries_top5_identical_ids_strict": round(strict / len(queries), 4),
        }
        return report, (ids, matrix.tolist())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=2000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--k", type=int, default=5)
    args = parser.parse_args()
    chunks = corpus(args.chunks)
    step = max(1, len(chunks) // args.queries)
    queries = [(c.title or c.text.splitlines()[0])[:200] for _, c in chunks[::step]][: args.queries]
    # NEXUS's settings first (with real embedding: the ingest rate users see), then chromadb's defaults
    # on the very same vectors (index only), so the recall difference is the index's alone.
    nexus, vectors = run(HnswParams(), chunks, queries, args.k)
    baseline, _ = run(CHROMA_DEFAULTS, chunks, queries, args.k, vectors)
    print(
        json.dumps(
            {
                "benchmark": "memory",
                "k": args.k,
                "queries": len(queries),
                "baseline_chroma_defaults": baseline,
                "nexus": nexus,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
