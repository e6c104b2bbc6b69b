"""Real chromadb + the real MiniLM: chunking, learning, re-indexing, deletion, isolation, refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nexus_server_ext.memory.chunking import chunk_markdown, chunk_notebook, chunk_python
from nexus_server_ext.memory.indexer import Indexer, LearnRefused
from nexus_server_ext.memory.vector_memory import VectorMemory

SALES = '''"""Sales helpers."""
import csv


def load_sales(path):
    """Read the quarterly sales CSV into a list of rows."""
    with open(path) as f:
        return list(csv.DictReader(f))


class TaxCalculator:
    """Compute value added tax for invoices."""

    rate = 0.2

    def tax(self, amount):
        return amount * self.rate
'''

NOTEBOOK = {
    "cells": [
        {"id": "intro", "cell_type": "markdown", "source": ["# Weather analysis\n", "We study rainfall."]},
        {"id": "rain", "cell_type": "code", "source": "rain = [3, 0, 12]\nprint(max(rain))", "outputs": []},
    ],
    "metadata": {},
    "nbformat": 4,
    "nbformat_minor": 5,
}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    (root / "proj" / "docs").mkdir(parents=True)
    (root / "proj" / "sales.py").write_text(SALES)
    (root / "proj" / "weather.ipynb").write_text(json.dumps(NOTEBOOK))
    (root / "proj" / "docs" / "guide.md").write_text(
        "# Guide\nOverview.\n## Deployment\nDeploy with docker compose up.\n"
    )
    (root / "proj" / ".env.py").write_text("API_KEY = 'secret-key-123'\n")
    (tmp_path / "outside.md").write_text("# Private\nsecret notes outside the root\n")
    return root


@pytest.fixture
def memory(tmp_path: Path) -> VectorMemory:
    return VectorMemory(tmp_path / "chroma")


def test_chunks_follow_the_structure_of_each_file() -> None:
    chunks = chunk_python(SALES)
    titles = [c.title for c in chunks]
    assert "def load_sales" in titles and "class TaxCalculator" in titles
    load = next(c for c in chunks if c.title == "def load_sales")
    assert (load.start_line, load.end_line) == (5, 8) and load.text.startswith("def load_sales")
    cells = chunk_notebook(json.dumps(NOTEBOOK))
    assert [c.cell_id for c in cells] == ["intro", "rain"]
    sections = chunk_markdown("# A\nx\n```\n# not a heading\n```\n## B\ny\n")
    assert [s.title for s in sections] == ["A", "B"]


def test_learn_search_cite_edit_delete(project: Path, memory: VectorMemory) -> None:
    indexer = Indexer(memory, project)
    job = indexer.run(indexer.start("alice", "proj"))
    assert job.state == "succeeded" and job.files_indexed == 3 and job.chunks_added >= 6
    assert ".env.py" not in json.dumps(memory.sources("alice"))  # hidden files are never learned

    hits = memory.search("alice", "how do I compute VAT on an invoice", 3)
    assert hits[0].source == "proj/sales.py" and "TaxCalculator" in hits[0].text
    assert hits[0].citation.startswith("proj/sales.py (lines ")
    rain = memory.search("alice", "rainfall measurements", 3)
    assert {h.cell_id for h in rain} & {"intro", "rain"}

    again = indexer.run(indexer.start("alice", "proj"))  # nothing changed: nothing re-embedded
    assert again.files_unchanged == 3 and again.chunks_added == 0

    (project / "proj" / "sales.py").write_text(
        SALES.replace("TaxCalculator", "ShippingCosts").replace(
            "Compute value added tax for invoices", "Estimate parcel shipping costs"
        )
    )
    refreshed = indexer.refresh("alice")  # what the periodic refresh does after an edit on disk
    assert refreshed.files_indexed == 1
    texts = [h.text for h in memory.search("alice", "value added tax for invoices", 10)]
    assert not any("TaxCalculator" in t for t in texts) and any("ShippingCosts" in t for t in texts)

    (project / "proj" / "docs" / "guide.md").unlink()
    gone = indexer.run(indexer.start("alice", "proj"))
    assert gone.files_removed == 1
    assert "proj/docs/guide.md" not in memory.sources("alice")


def test_one_user_never_retrieves_another_users_memories(project: Path, memory: VectorMemory) -> None:
    indexer = Indexer(memory, project)
    indexer.run(indexer.start("alice", "proj/sales.py"))
    assert memory.search("bob", "sales tax", 5) == []
    assert memory.count("bob") == 0 and memory.count("alice") > 0
    assert memory.delete_source("bob") == 0 and memory.count("alice") > 0
    with pytest.raises(ValueError):
        memory.search("", "sales", 5)


@pytest.mark.parametrize(
    ("target", "mentions"),
    [
        ("../outside.md", "leaves the server's root"),
        ("/etc/passwd", "outside the server's root"),
        ("proj/.env.py", "hidden"),
        ("nothing/here", "does not exist"),
        ("proj/*.csv", "matches no"),
        ("", "Say what to learn"),
    ],
)
def test_learning_refuses_what_it_must_not_read(
    project: Path, memory: VectorMemory, target: str, mentions: str
) -> None:
    with pytest.raises(LearnRefused, match=mentions):
        Indexer(memory, project).start("alice", target)


def test_a_symlink_out_of_the_root_is_not_followed(
    project: Path, memory: VectorMemory, tmp_path: Path
) -> None:
    (project / "proj" / "link.md").symlink_to(tmp_path / "outside.md")
    (project / "escape").symlink_to(tmp_path)
    indexer = Indexer(memory, project)
    indexer.run(indexer.start("alice", "proj"))
    assert "proj/link.md" not in memory.sources("alice")
    with pytest.raises(LearnRefused, match="outside"):
        indexer.start("alice", "escape")


def test_examples_memory_is_per_user(memory: VectorMemory) -> None:
    memory.add_example(
        "alice", "sort a list of dicts by a key", "sorted(rows, key=lambda r: r['k'])", 7, "generate"
    )
    found = memory.search_examples("alice", "how to sort dictionaries in a list by key", 2)
    assert found and found[0].metadata["answer"].startswith("sorted(")
    assert memory.search_examples("bob", "how to sort dictionaries in a list by key", 2) == []


def test_hnsw_settings_find_the_exact_top_5_on_near_duplicates(memory: VectorMemory) -> None:
    """2,000 vectors in near-duplicate families (what a repository with copied code looks like); the
    index's top 5 must match brute-force search on at least 99% of queries (ties count as equal)."""
    import numpy as np

    rng = np.random.default_rng(7)
    bases = rng.normal(size=(200, 384)).astype(np.float32)
    vectors = np.repeat(bases, 10, axis=0) + rng.normal(scale=0.05, size=(2000, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = [f"v{i}" for i in range(len(vectors))]
    collection = memory._collection("nexus_memory")
    for start in range(0, len(ids), 500):
        collection.add(
            ids=ids[start : start + 500],
            embeddings=vectors[start : start + 500].tolist(),
            metadatas=[{"owner": "bench"}] * 500,
        )
    queries = vectors[::10] + rng.normal(scale=0.02, size=(200, 384)).astype(np.float32)
    agree = 0
    for query in queries:
        got = collection.query(query_embeddings=[query.tolist()], n_results=5, where={"owner": "bench"})[
            "ids"
        ][0]
        scores = vectors @ query
        kth = np.sort(scores)[-5]
        agree += all(scores[int(i[1:])] >= kth - 1e-5 for i in got)
    assert agree / len(queries) >= 0.99


def test_a_memory_never_written_answers_at_once_without_opening_chromadb(
    project: Path, tmp_path: Path
) -> None:
    """A fresh lab's first question: nothing has been learned, so there is nothing to search, and the
    answer does not wait for chromadb (which the warm-up may still be importing)."""
    memory = VectorMemory(tmp_path / "fresh")
    assert memory.search("alice", "how do I compute VAT on an invoice", 4) == []
    assert memory.search_examples("alice", "how do I compute VAT on an invoice") == []
    assert memory._client is None and not (tmp_path / "fresh").exists()  # chromadb was not opened
    indexer = Indexer(memory, project)
    assert indexer.run(indexer.start("alice", "proj")).state == "succeeded"
    question = "how do I compute VAT on an invoice"
    assert memory.search("alice", question, 3)[0].source == "proj/sales.py"  # written: searched as always
    reopened = VectorMemory(tmp_path / "fresh")  # a restarted server: the database is there
    assert (
        not reopened.nothing_stored() and reopened.search("alice", question, 3)[0].source == "proj/sales.py"
    )
