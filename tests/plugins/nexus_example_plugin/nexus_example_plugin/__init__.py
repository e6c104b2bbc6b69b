"""An example NEXUS plugin, installed into the test environment by the plugin tests."""

from __future__ import annotations

from typing import Any

from nexus_server_ext.commands import Command
from nexus_server_ext.plugins import Intent


async def word_count(context: dict[str, Any]) -> dict[str, Any]:
    text = context.get("text") or ""
    return {"words": len(text.split()), "user": context.get("username")}


def commands() -> list[Command]:
    return [
        Command("word-count", "Count words", ("count words",), run=word_count, takes_text=True),
        Command(
            "toggle-sidebar",
            "Toggle the sidebar",
            ("toggle sidebar",),
            lab_command="application:toggle-left-area",
        ),
    ]


SUMMARISE = Intent("summarise", "Summarise a notebook or a cell.", ("summarise this notebook",))
