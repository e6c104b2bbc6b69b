"""``%nexus learn`` / ``%nexus search``: a notebook's own memory of files, searched by meaning.

Files are cut into chunks of lines, embedded with the bundled all-MiniLM-L6-v2
(the engine's ``Embedder``), and searched exactly (cosine over every chunk):
a notebook learns a folder, not a corpus, so exact search is both fast enough
and never misses the true nearest chunk. ``ask`` and ``chat`` quote the best
chunks to the model, with their source, so answers can cite the files.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

TEXT_SUFFIXES = {".py", ".md", ".txt", ".rst", ".ipynb", ".toml", ".yaml", ".yml", ".cfg", ".ini", ".json"}
SKIP_DIRS = {".git", ".venv", "venv", "node_modules", "__pycache__", ".ipynb_checkpoints", ".mypy_cache"}
MAX_FILE_BYTES = 1024 * 1024
MAX_FILES = 500
CHUNK_LINES = 30


@dataclass
class Chunk:
    source: str
    lines: str
    text: str


@dataclass
class Hit:
    chunk: Chunk
    score: float


def _read(path: Path) -> str:
    text = path.read_text(encoding="utf-8", errors="replace")
    if path.suffix == ".ipynb":
        try:
            cells = json.loads(text).get("cells", [])
        except ValueError:
            return ""
        return "\n\n".join(
            "".join(c["source"]) if isinstance(c.get("source"), list) else str(c.get("source", ""))
            for c in cells
        )
    return text


def chunk_text(source: str, text: str, size: int = CHUNK_LINES) -> list[Chunk]:
    lines = text.splitlines()
    chunks = []
    for start in range(0, len(lines), size):
        part = "\n".join(lines[start : start + size]).strip()
        if part:
            chunks.append(Chunk(source, f"{start + 1}-{min(start + size, len(lines))}", part))
    return chunks


def files_under(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    found = []
    for item in sorted(path.rglob("*")):
        if any(part in SKIP_DIRS for part in item.relative_to(path).parts):
            continue
        if item.is_file() and item.suffix.lower() in TEXT_SUFFIXES and item.stat().st_size <= MAX_FILE_BYTES:
            found.append(item)
            if len(found) >= MAX_FILES:
                break
    return found


class NotebookMemory:
    def __init__(self) -> None:
        self.chunks: list[Chunk] = []
        self.vectors: list[list[float]] = []

    def _embed(self, texts: list[str]) -> list[list[float]]:
        from nexus_server_ext.ai.embeddings import get_embedder

        return [list(map(float, v)) for v in get_embedder().embed_sync(texts)]

    def learn(self, path: str, progress: Callable[[int, int, str], None] | None = None) -> tuple[int, int]:
        """(files, chunks) learned from a file or a folder; learning a file again replaces its chunks.
        ``progress(done, total, file)`` is called after each file (``%nexus learn``'s progress bar)."""
        root = Path(path).expanduser()
        if not root.exists():
            raise FileNotFoundError(f"{path}: no such file or folder")
        files = files_under(root)
        if not files:
            raise FileNotFoundError(
                f"{path}: no text files to learn (looked for {', '.join(sorted(TEXT_SUFFIXES))})"
            )
        new: list[Chunk] = []
        vectors: list[list[float]] = []
        for done, file in enumerate(files, 1):
            chunks = chunk_text(str(file), _read(file))
            new.extend(chunks)
            vectors.extend(self._embed([c.text for c in chunks]) if chunks else [])
            if progress is not None:
                progress(done, len(files), str(file))
        sources = {str(f) for f in files}
        keep = [i for i, c in enumerate(self.chunks) if c.source not in sources]
        self.chunks = [self.chunks[i] for i in keep] + new
        self.vectors = [self.vectors[i] for i in keep] + vectors
        return len(files), len(new)

    def search(self, query: str, k: int = 5) -> list[Hit]:
        if not self.chunks:
            return []
        [q] = self._embed([query])
        scores = [sum(a * b for a, b in zip(q, v, strict=True)) for v in self.vectors]
        best = sorted(range(len(scores)), key=scores.__getitem__, reverse=True)[:k]
        return [Hit(self.chunks[i], scores[i]) for i in best]

    def clear(self) -> None:
        self.chunks, self.vectors = [], []
