"""The command registry: one catalogue of things a user can ask NEXUS to *do*.

Voice commands, slash commands, ``POST /commands/NAME`` and plugins (entry-point
group ``nexus.commands``) all read and extend this one registry, so a command
added once is reachable everywhere.

A command runs either in the browser (``lab_command``: a JupyterLab command id
the frontend executes, e.g. ``notebook:run-cell``) or on the server
(``run``: an async callable), or maps to a NEXUS intent (``intent``: e.g.
``explain``) that the consciousness core handles.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from .chat.slash import BUILTIN as SLASH_COMMANDS

ServerAction = Callable[[dict[str, Any]], Awaitable[Any]]

# A command that maps to an intent asks what the chat's slash command of that name asks (one catalogue).
_ASKS = {c.name: c.intent for c in SLASH_COMMANDS}


@dataclass(frozen=True)
class Command:
    name: str
    title: str
    phrases: tuple[str, ...] = ()
    lab_command: str | None = None
    intent: str | None = None
    run: ServerAction | None = field(default=None, compare=False)
    destructive: bool = False
    takes_text: bool = (
        False  # "generate code that ..." / "ask ...": the rest of the utterance is the argument
    )
    source: str = "nexus"

    @property
    def target(self) -> Literal["frontend", "intent", "server"]:
        return "frontend" if self.lab_command else "intent" if self.intent else "server"


class CommandRegistry:
    def __init__(self, commands: tuple[Command, ...] | list[Command] = ()) -> None:
        self._commands: dict[str, Command] = {}
        for command in commands:
            self.register(command)

    def register(self, command: Command, *, replace: bool = False) -> None:
        if command.name in self._commands and not replace:
            raise ValueError(f"a command named {command.name!r} is already registered")
        if not (command.lab_command or command.intent or command.run):
            raise ValueError(f"command {command.name!r} needs a lab_command, an intent or a run action")
        self._commands[command.name] = command

    def get(self, name: str) -> Command | None:
        return self._commands.get(name)

    def __iter__(self) -> Iterator[Command]:
        return iter(self._commands.values())

    def __len__(self) -> int:
        return len(self._commands)


BUILTIN_COMMANDS: tuple[Command, ...] = (
    Command(
        "run-cell", "Run cell", ("run cell", "run this cell", "execute cell"), lab_command="notebook:run-cell"
    ),
    Command(
        "run-all",
        "Run all cells",
        ("run all", "run all cells", "run everything"),
        lab_command="notebook:run-all-cells",
    ),
    Command(
        "insert-cell-above",
        "Insert cell above",
        ("insert cell above", "add a cell above", "new cell above"),
        lab_command="notebook:insert-cell-above",
    ),
    Command(
        "insert-cell-below",
        "Insert cell below",
        ("insert cell below", "add a cell below", "new cell below"),
        lab_command="notebook:insert-cell-below",
    ),
    Command(
        "delete-cell",
        "Delete cell",
        ("delete cell", "delete this cell", "remove cell"),
        lab_command="notebook:delete-cell",
        destructive=True,
    ),
    Command("undo", "Undo", ("undo", "undo that"), lab_command="notebook:undo-cell-action"),
    Command(
        "save", "Save notebook", ("save", "save notebook", "save the notebook"), lab_command="docmanager:save"
    ),
    Command(
        "new-notebook",
        "New notebook",
        ("new notebook", "create a notebook", "open a new notebook"),
        lab_command="notebook:create-new",
    ),
    Command(
        "open-chat",
        "Open NEXUS chat",
        ("open chat", "show chat", "open the chat"),
        lab_command="nexus:open-chat",
    ),
    Command(
        "restart-kernel",
        "Restart kernel",
        ("restart kernel", "restart the kernel"),
        lab_command="kernelmenu:restart",
        destructive=True,
    ),
    Command(
        "interrupt-kernel",
        "Interrupt kernel",
        ("interrupt kernel", "stop the kernel", "interrupt"),
        lab_command="kernelmenu:interrupt",
    ),
    Command(
        "explain-error",
        "Explain this error",
        ("explain this error", "explain the error", "what went wrong"),
        intent=_ASKS["explain"],
    ),
    Command("fix", "Fix this", ("fix this", "fix the error", "fix it"), intent=_ASKS["fix"]),
    Command(
        "generate",
        "Generate code",
        ("generate code that", "write code that", "create a function that"),
        intent=_ASKS["generate"],
        takes_text=True,
    ),
    Command("ask", "Ask NEXUS", ("ask", "question"), intent=_ASKS["ask"], takes_text=True),
)


def builtin_registry() -> CommandRegistry:
    return CommandRegistry(BUILTIN_COMMANDS)
