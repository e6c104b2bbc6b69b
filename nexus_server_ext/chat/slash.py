"""The chat's slash commands, stated once: what each one is called, the intent it asks for, its help.

The intent classifier parses them, ``GET /chat/commands`` lists them (the chat
panel's ``/`` completion), ``/help`` answers with them, and a bare ``/explain``
takes its default request from here. Plugins add theirs through
``SlashCatalogue.register`` (a plugin intent's name); a plugin's server
commands are listed beside them by ``ConsciousnessCore.slash_commands``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class SlashCommand:
    name: str
    intent: str
    help: str  # one line, for the chat's command list
    usage: str = ""  # what follows the command, as /help shows it ("QUESTION", "PATH|GLOB")
    default_request: str = ""  # the request when the command comes alone ("/explain")
    source: str = "nexus"  # "nexus", or "plugin-intent" for a plugin's intent

    def synopsis(self) -> str:
        return f"/{self.name} {self.usage}".rstrip()


BUILTIN: tuple[SlashCommand, ...] = (
    SlashCommand("ask", "chat", "Ask a question about code, data or the notebook", "QUESTION"),
    SlashCommand("generate", "generate", "Write code from a description", "WHAT"),
    SlashCommand(
        "explain",
        "explain",
        "Explain the active cell, the selection or the last error",
        default_request="Explain this code.",
    ),
    SlashCommand(
        "fix",
        "fix",
        "Fix the bug in the code, using the last error",
        default_request="Fix the error in this code.",
    ),
    SlashCommand(
        "refactor", "refactor", "Suggest a clearer version of the code", default_request="Refactor this code."
    ),
    SlashCommand(
        "test", "test", "Write pytest tests for the code", default_request="Write tests for this code."
    ),
    SlashCommand(
        "agent",
        "command",
        "Let the agent work in the open notebook: it edits and runs cells, asking before each change",
        "GOAL",
    ),
    SlashCommand("learn", "learn", "Index files so answers can cite them (a path or a glob)", "PATH|GLOB"),
    SlashCommand("clear", "command", "Make the model forget this conversation so far"),
    SlashCommand("help", "command", "List the commands"),
)


class SlashCatalogue:
    """The slash commands a chat understands: the built-in ones, then those plugins registered."""

    def __init__(self, commands: tuple[SlashCommand, ...] = BUILTIN) -> None:
        self._commands = {c.name: c for c in commands}

    def register(self, name: str, intent: str, help: str = "") -> None:
        """A plugin intent's slash command (a built-in name is never replaced)."""
        name = name.lstrip("/").lower()
        if name not in self._commands:
            help = help or f"The {intent} plugin intent"
            self._commands[name] = SlashCommand(name, intent, help, source="plugin-intent")

    def get(self, name: str) -> SlashCommand | None:
        return self._commands.get(name.lower())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._commands

    def __iter__(self) -> Iterator[SlashCommand]:
        return iter(self._commands.values())

    def intents(self) -> dict[str, str]:
        """Command name -> intent."""
        return {c.name: c.intent for c in self}

    def default_request(self, intent: str) -> str:
        """What a bare command of ``intent`` asks ("/explain" alone: about the current cell)."""
        return next((c.default_request for c in self if c.intent == intent and c.default_request), "")

    def help_text(self) -> str:
        """The ``/help`` answer (Markdown: one command a line)."""
        return "Commands:\n\n" + "\n".join(f"- `{c.synopsis()}`: {c.help}" for c in self)
