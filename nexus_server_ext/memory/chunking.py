"""Structure-aware chunking: Python by function/class, notebooks by cell, Markdown/RST by heading.

A chunk that follows the file's own structure answers "where is X defined"
with a citation a person can open (``utils.py lines 12-40``, ``analysis.ipynb
cell 3f2a``); fixed-size windows cut functions in half. Anything too long is
split into windows of ``MAX_LINES`` so no chunk exceeds what the embedder reads.
"""

from __future__ import annotations

import ast
import json
import re

from .vector_memory import Chunk

MAX_LINES = 60
SUFFIXES = (".py", ".ipynb", ".md", ".txt", ".rst")
_MD_HEADING = re.compile(r"^#{1,6}\s")
_RST_UNDERLINE = re.compile(r"^([=\-~^\"'`#*+])\1{2,}\s*$")


def _windows(lines: list[str], first: int, title: str = "") -> list[Chunk]:
    """``lines`` (starting at line ``first``) as chunks of at most MAX_LINES, blank ones dropped."""
    out = []
    for start in range(0, len(lines), MAX_LINES):
        part = lines[start : start + MAX_LINES]
        text = "\n".join(part).strip()
        if text:
            out.append(Chunk(text, first + start, first + start + len(part) - 1, title=title))
    return out


def chunk_python(text: str) -> list[Chunk]:
    lines = text.splitlines()
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return _windows(lines, 1)
    chunks: list[Chunk] = []
    cursor = 1  # first line not yet covered
    for node in tree.body:
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
        end = node.end_lineno or node.lineno
        if start > cursor:  # module-level code between definitions
            chunks += _windows(lines[cursor - 1 : start - 1], cursor, "module")
        kind = "class" if isinstance(node, ast.ClassDef) else "def"
        chunks += _windows(lines[start - 1 : end], start, f"{kind} {node.name}")
        cursor = end + 1
    if cursor <= len(lines):
        chunks += _windows(lines[cursor - 1 :], cursor, "module")
    return chunks


def chunk_notebook(text: str) -> list[Chunk]:
    try:
        cells = json.loads(text).get("cells", [])
    except (ValueError, AttributeError):
        return []
    chunks = []
    for index, cell in enumerate(cells):
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else str(source)
        if not source.strip():
            continue
        cell_id = str(cell.get("id") or f"cell-{index}")
        n = source.count("\n") + 1
        title = f"{cell.get('cell_type', 'code')} cell {index + 1}"
        for piece in _windows(source.splitlines(), 1, title):
            chunks.append(Chunk(piece.text, piece.start_line, min(piece.end_line, n), cell_id, title))
    return chunks


def _sections(lines: list[str], starts: list[int]) -> list[Chunk]:
    bounds = sorted({0, *starts})
    chunks: list[Chunk] = []
    for i, start in enumerate(bounds):
        end = bounds[i + 1] if i + 1 < len(bounds) else len(lines)
        title = lines[start].lstrip("#").strip() if start < len(lines) else ""
        chunks += _windows(lines[start:end], start + 1, title)
    return chunks


def chunk_markdown(text: str) -> list[Chunk]:
    lines = text.splitlines()
    fenced = False
    starts = []
    for i, line in enumerate(lines):
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and _MD_HEADING.match(line):
            starts.append(i)
    return _sections(lines, starts)


def chunk_rst(text: str) -> list[Chunk]:
    lines = text.splitlines()
    starts = [
        i - 1
        for i in range(1, len(lines))
        if _RST_UNDERLINE.match(lines[i]) and lines[i - 1].strip() and not _RST_UNDERLINE.match(lines[i - 1])
    ]
    return _sections(lines, starts)


def chunk_text(text: str) -> list[Chunk]:
    """Plain text by paragraph groups (blank-line separated), within the window size."""
    return _windows(text.splitlines(), 1)


def chunk_file(name: str, text: str) -> list[Chunk]:
    suffix = name[name.rfind(".") :].lower() if "." in name else ""
    return {
        ".py": chunk_python,
        ".ipynb": chunk_notebook,
        ".md": chunk_markdown,
        ".rst": chunk_rst,
    }.get(suffix, chunk_text)(text)
