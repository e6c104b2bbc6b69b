"""LSP diagnostics for the code the user is looking at, from python-lsp-server's pyflakes plugin.

The same checks JupyterLab shows through jupyter-lsp + pylsp (undefined names,
unused imports, syntax errors), computed through pylsp's own API on the text,
because the model needs them on the server and a language-server round trip per
chat message would cost more than the check itself. For a notebook cell, the
code cells above it are prepended (so names they define are known) and only the
diagnostics inside the cell are kept. IPython magics and shell lines are blanked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_MAGIC = re.compile(r"^\s*[%!]")
SEVERITY = {1: "error", 2: "warning", 3: "information", 4: "hint"}


@dataclass(frozen=True)
class Diagnostic:
    line: int  # 1-based, within the cell or file
    column: int
    severity: str
    message: str

    def render(self) -> str:
        return f"line {self.line}:{self.column}: {self.severity}: {self.message}"


def _clean(source: str) -> str:
    return "\n".join("pass" if _MAGIC.match(line) else line for line in source.splitlines())


def python_diagnostics(source: str, before: list[str] | None = None, limit: int = 20) -> list[Diagnostic]:
    """pyflakes diagnostics (through pylsp) for ``source``, with ``before`` as preceding code. Blocking."""
    from pylsp.plugins import pyflakes_lint
    from pylsp.workspace import Document, Workspace

    prefix = "\n".join(_clean(s) for s in before or [])
    offset = prefix.count("\n") + 1 if prefix else 0
    text = (prefix + "\n" if prefix else "") + _clean(source) + "\n"
    workspace = Workspace("file:///nexus", None)
    document = Document("file:///nexus/cell.py", workspace, source=text)
    out = []
    for item in pyflakes_lint.pylsp_lint(workspace, document) or []:
        line = item["range"]["start"]["line"] - offset
        if line < 0:
            continue
        out.append(
            Diagnostic(
                line + 1,
                item["range"]["start"]["character"] + 1,
                SEVERITY.get(item.get("severity", 1), "error"),
                item["message"],
            )
        )
    return out[:limit]
