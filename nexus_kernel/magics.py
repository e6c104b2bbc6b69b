"""The ``%nexus`` magics. Subcommands are dispatched from a table so new ones stay one function each."""

from __future__ import annotations

import shlex
from collections.abc import Callable

from IPython.core.magic import Magics, line_cell_magic, magics_class

from nexus_server_ext._version import __version__


class NexusUsageError(ValueError):
    """Bad magic arguments: shown as one readable line, never a traceback."""


@magics_class
class NexusMagics(Magics):
    """``%nexus SUBCOMMAND [args]`` and ``%%nexus SUBCOMMAND`` with the cell as the prompt."""

    def _subcommands(self) -> dict[str, Callable[[list[str], str | None], object]]:
        return {"help": self._help, "version": self._version}

    @line_cell_magic
    def nexus(self, line: str, cell: str | None = None) -> object:
        try:
            args = shlex.split(line)
        except ValueError as exc:
            print(f"nexus: cannot parse the arguments: {exc}")
            return None
        name = args[0] if args else "help"
        handler = self._subcommands().get(name)
        if handler is None:
            print(f"nexus: unknown subcommand {name!r}; try %nexus help")
            return None
        try:
            return handler(args[1:], cell)
        except NexusUsageError as exc:
            print(f"nexus: {exc}")
            return None

    def _help(self, args: list[str], cell: str | None) -> None:
        print("NEXUS magics. Subcommands: " + ", ".join(sorted(self._subcommands())))

    def _version(self, args: list[str], cell: str | None) -> str:
        return __version__
