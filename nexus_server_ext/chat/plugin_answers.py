"""Chat answers from plugins: intents with a handler, and server commands used as slash commands.

Plugins register intents (``nexus.intents``) and commands (``nexus.commands``)
into the server's registries at start-up; this is where chat reaches them. The
classifier learns each plugin intent's name as a slash command and its example
phrases, so free text routes to it like to a built-in intent. A plugin intent
with a ``handler`` is answered by that handler (no model call); one without is
answered by the model, told what the intent is for. ``/NAME text`` runs a
server command (``run``) and answers with its result. A failing plugin is the
plugin's problem: the user gets one readable line, the log gets the traceback.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from ..commands import CommandRegistry
from ..plugins import IntentRegistry
from .intent import INTENTS, Intent, IntentClassifier

log = logging.getLogger(__name__)


@dataclass
class PluginCall:
    """What a chat message runs: a plugin intent's handler or a server command."""

    name: str
    source: str
    run: Callable[[dict[str, Any]], Awaitable[Any]]

    async def answer(self, context: dict[str, Any]) -> str:
        try:
            result = await self.run(context)
        except Exception as exc:  # third-party code: its failure is reported, never raised
            log.warning("NEXUS plugin %s (%s) failed", self.name, self.source, exc_info=True)
            return f"The plugin {self.source} could not answer {self.name!r} ({type(exc).__name__})."
        if isinstance(result, str):
            return result
        return f"`{self.name}`:\n\n```json\n{json.dumps(result, indent=2, default=str)}\n```"


class PluginAnswers:
    def __init__(self, intents: IntentRegistry | None, commands: CommandRegistry | None) -> None:
        self.intents = intents
        self.commands = commands

    def plugin_intents(self) -> list[Any]:
        return [i for i in (self.intents or ()) if i.name not in INTENTS and i.name != "complete"]

    def teach(self, classifier: IntentClassifier) -> None:
        """``/name`` and the example phrases of every plugin intent, for the classifier."""
        for intent in self.plugin_intents():
            command = intent.name if intent.name not in classifier.slash else None
            classifier.register(command, intent.name, tuple(intent.examples), intent.description)

    def command_call(self, text: str, builtin_slash: dict[str, str]) -> tuple[PluginCall, str] | None:
        """``/NAME rest`` for a registered server command that no built-in slash command shadows."""
        stripped = text.strip()
        if not stripped.startswith("/") or self.commands is None:
            return None
        head, _, rest = stripped[1:].partition(" ")
        command = self.commands.get(head)
        if command is None or command.run is None or head.lower() in builtin_slash:
            return None
        return PluginCall(command.name, command.source, command.run), rest.strip()

    def intent_call(self, intent: Intent) -> PluginCall | None:
        found = self.intents.get(intent.name) if self.intents is not None else None
        if found is None or found.handler is None or intent.name in INTENTS:
            return None
        return PluginCall(found.name, found.source, found.handler)

    def slash_commands(self, builtin_slash: dict[str, str]) -> list[tuple[str, str]]:
        """(name, description) of the server commands that work as ``/name`` in the chat."""
        if self.commands is None:
            return []
        return [
            (c.name, c.title)
            for c in self.commands
            if c.run is not None and c.name.lower() not in builtin_slash
        ]

    def description(self, name: str) -> str | None:
        found = self.intents.get(name) if self.intents is not None else None
        return found.description if found is not None and name not in INTENTS else None
