"""An example NEXUS plugin, installed into the test environment by the plugin tests.

It adds a server command (``word-count``), a frontend command (``toggle-sidebar``),
an intent (``summarise``, answered by its own handler) and a command that maps a
spoken "summarise this notebook" to that intent.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from nexus_server_ext.commands import Command
from nexus_server_ext.plugins import Intent


async def word_count(context: dict[str, Any]) -> dict[str, Any]:
    text = context.get("text") or ""
    return {"words": len(text.split()), "user": context.get("username")}


async def summarise(context: dict[str, Any]) -> str:
    """The notebook the user is in, by cell kind and first heading (no model needed)."""
    path = context.get("notebook_path")
    if not path:
        words = len((context.get("text") or "").split())
        return f"Summary: there is no notebook open; the text has {words} words."
    cells = json.loads((Path(context["root_dir"]) / path).read_text()).get("cells", [])
    kinds = [c.get("cell_type") for c in cells]
    headings = [
        line.lstrip("# ").strip()
        for c in cells
        if c.get("cell_type") == "markdown"
        for line in "".join(c.get("source", "")).splitlines()
        if line.startswith("#")
    ]
    title = headings[0] if headings else "untitled"
    return (
        f"Summary of {path} ({title}): {kinds.count('code')} code cells, "
        f"{kinds.count('markdown')} markdown cells."
    )


def commands() -> list[Command]:
    return [
        Command("word-count", "Count words", ("count words",), run=word_count, takes_text=True),
        Command(
            "toggle-sidebar",
            "Toggle the sidebar",
            ("toggle sidebar",),
            lab_command="application:toggle-left-area",
        ),
        Command(
            "summarise-notebook",
            "Summarise the notebook",
            ("summarise this notebook", "summarize the notebook", "give me a summary of the notebook"),
            intent="summarise",
        ),
    ]


SUMMARISE = Intent(
    "summarise",
    "Summarise a notebook or a cell.",
    (
        "summarise this notebook",
        "summarize the notebook for me",
        "give me a summary of this notebook",
        "what is this notebook about overall",
        "sum up the cells in this notebook",
    ),
    handler=summarise,
)
