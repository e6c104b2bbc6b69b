"""What a language server says about the code the user is looking at, shaped for the AI context.

A ``SourceDocument`` is the text a language server is shown: for a notebook cell,
the code cells above it and the cell itself joined into one document (so names
defined earlier are known; IPython magics and shell lines are blanked, as
JupyterLab's own LSP integration does), for a file the file. It maps document
lines back to "cell 3, line 2" so the model is told where things are in the
user's terms. ``LspReport`` is what came back (``lsp.py`` asks): diagnostics
inside the current cell or file, and hover/definition facts for the names on
the current line, or a plain note saying why there are none.
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass, field
from pathlib import PurePosixPath

_MAGIC = re.compile(r"^\s*[%!]")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
SEVERITY = {1: "error", 2: "warning", 3: "information", 4: "hint"}
MAX_NAMES = 6

# file extension -> LSP language id, for files; a notebook names its own language
EXTENSION_LANGUAGE = {
    ".py": "python",
    ".r": "r",
    ".jl": "julia",
    ".js": "javascript",
    ".mjs": "javascript",
    ".cjs": "javascript",
    ".jsx": "javascriptreact",
    ".ts": "typescript",
    ".mts": "typescript",
    ".cts": "typescript",
    ".tsx": "typescriptreact",
    ".sh": "bash",
    ".bash": "bash",
    ".sql": "sql",
    ".md": "markdown",
    ".json": "json",
    ".yaml": "yaml",
    ".yml": "yaml",
    ".tex": "latex",
    ".go": "go",
    ".rs": "rust",
    ".c": "c",
    ".h": "c",
    ".cpp": "cpp",
    ".cc": "cpp",
    ".cxx": "cpp",
    ".hpp": "cpp",
    ".hh": "cpp",
    ".java": "java",
    ".rb": "ruby",
    ".scala": "scala",
    ".css": "css",
    ".html": "html",
    "dockerfile": "dockerfile",
}
# what kernels call their language (``language_info.name``) -> LSP language id
LANGUAGE_ALIASES = {
    "c++": "cpp",
    "js": "javascript",
    "node": "javascript",
    "ts": "typescript",
    "golang": "go",
}
# what starts a line comment, after which names are not code
LINE_COMMENT = {
    **dict.fromkeys(["python", "r", "julia", "bash", "ruby"], "#"),
    **dict.fromkeys(["c", "cpp", "go", "rust", "java", "scala"], "//"),
    **dict.fromkeys(["javascript", "javascriptreact", "typescript", "typescriptreact"], "//"),
}


@dataclass(frozen=True)
class Diagnostic:
    line: int  # 1-based, within the cell or file
    column: int
    severity: str
    message: str
    source: str = ""

    def render(self) -> str:
        origin = f" ({self.source})" if self.source else ""
        return f"line {self.line}:{self.column}: {self.severity}: {self.message}{origin}"


@dataclass
class SourceDocument:
    """The text shown to a language server and how its lines map back to cells."""

    path: str  # the notebook or file, relative to the server root
    language: str
    extension: str  # what a file of this language ends with, e.g. ".py"
    text: str
    first_line: int = 0  # where the current cell (or the file) starts in ``text``
    line_count: int = 0  # lines of the current cell (or file)
    cursor_line: int | None = None  # 0-based within the current cell or file
    cell_starts: list[tuple[int, int]] = field(default_factory=list)  # (cell number, first line)

    @classmethod
    def for_cells(
        cls, path: str, language: str, extension: str, cells: list[tuple[int, str]], cursor_line: int | None
    ) -> SourceDocument:
        """``cells``: (cell number, source) of the code cells above the current one, then the current one."""
        lines: list[str] = []
        starts = []
        for number, source in cells:
            starts.append((number, len(lines)))
            cleaned = ["" if _MAGIC.match(line) else line for line in source.splitlines()] or [""]
            lines += cleaned
        current = starts[-1][1] if starts else 0
        return cls(
            path,
            language,
            extension,
            "\n".join(lines) + "\n",
            current,
            len(lines) - current,
            cursor_line,
            starts,
        )

    @classmethod
    def for_file(cls, path: str, language: str, text: str, cursor_line: int | None) -> SourceDocument:
        suffix = PurePosixPath(path).suffix or ""
        return cls(path, language, suffix, text, 0, len(text.splitlines()), cursor_line, [])

    def place(self, line: int) -> str:
        """A 0-based document line in the user's terms: "cell 2, line 3" or "line 3"."""
        for number, start in reversed(self.cell_starts):
            if line >= start:
                return f"cell {number}, line {line - start + 1}"
        return f"line {line + 1}"

    def in_current(self, line: int) -> bool:
        return self.first_line <= line < self.first_line + self.line_count

    def current_line(self) -> tuple[int, str]:
        """(document line, text) of the line the user is on: the cursor's, else the last non-blank one."""
        lines = self.text.splitlines()
        own = lines[self.first_line : self.first_line + self.line_count]
        if self.cursor_line is not None and 0 <= self.cursor_line < len(own):
            index = self.cursor_line
        else:
            index = max((i for i, text in enumerate(own) if text.strip()), default=0)
        return self.first_line + index, own[index] if own else ""

    def names_on_line(self) -> list[tuple[str, int, int]]:
        """(name, document line, column) of the identifiers on the current line, keywords left out."""
        line, text = self.current_line()
        if _MAGIC.match(text):
            return []
        found: dict[str, tuple[str, int, int]] = {}
        marker = LINE_COMMENT.get(self.language)
        code = text.split(marker, 1)[0] if marker else text
        for match in _NAME.finditer(code):
            name = match.group()
            if keyword.iskeyword(name) or name in found or _in_string(text, match.start()):
                continue
            found[name] = (name, line, match.start())
        return list(found.values())[:MAX_NAMES]


def _in_string(text: str, index: int) -> bool:
    """A crude check that the position lies inside a quoted string (names there are not code)."""
    before = text[:index]
    return before.count('"') % 2 == 1 or before.count("'") % 2 == 1


def language_id(name: str) -> str:
    """The LSP language id for what a kernel or file calls its language ("C++" -> "cpp")."""
    lowered = name.strip().lower()
    return LANGUAGE_ALIASES.get(lowered, lowered)


def language_of_file(path: str) -> str:
    name = PurePosixPath(path).name.lower()
    suffix = PurePosixPath(name).suffix
    return EXTENSION_LANGUAGE.get(suffix) or EXTENSION_LANGUAGE.get(name) or suffix.lstrip(".") or name


@dataclass
class LspReport:
    server: str | None = None  # the language server's display name
    diagnostics: list[Diagnostic] = field(default_factory=list)
    facts: list[str] = field(default_factory=list)  # one line per name on the current line
    note: str | None = None  # why there is nothing (no server, no answer in time)

    def render_diagnostics(self) -> str:
        if self.diagnostics:
            return "\n".join(d.render() for d in self.diagnostics)
        return self.note or "No problems reported."

    def render_facts(self) -> str:
        return "\n".join(f"- {fact}" for fact in self.facts)
