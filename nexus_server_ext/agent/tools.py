"""The agent's one tool registry: name, JSON schema, description, and what a tool may change.

A tool is data plus one coroutine. ``kind`` says what it can change: ``read``
tools never ask for approval; ``edit`` (cells) and ``run`` (code in the kernel)
go through the turn's approval mode. The registry validates arguments against
the schema before anything runs, so a model's malformed call becomes a tool
error it can read, never an exception in the server. The same registry is what
any other front door (MCP) serves.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from ..ai.types import ToolSpec

if TYPE_CHECKING:
    from .kernel import NotebookKernel
    from .notebook import AgentNotebook

ToolKind = Literal["read", "edit", "run"]


class ToolError(Exception):
    """What went wrong, told to the model as the call's result (a missing cell, a changed cell...)."""


@dataclass
class ToolContext:
    """What a tool call may reach: one notebook, its kernel, the owner's memory and the server's files."""

    notebook: AgentNotebook
    owner: str
    # The notebook's kernel (ToolError when it has none); found on first use.
    kernel: Callable[[], Awaitable[NotebookKernel]]
    contents_manager: Any
    # owner, query, k -> hits with ``citation()`` and ``text`` (None: no memory on this server)
    search_memory: Callable[[str, str, int], Awaitable[list[Any]]] | None = None
    # Called with the execution just before a ``run`` tool runs code (the turn checkpoints the kernel).
    before_run: Callable[[], Awaitable[None]] | None = None
    # The running execution, so Stop can interrupt it.
    on_execute: Callable[[bool], None] | None = None
    run_timeout_s: float = 600.0


@dataclass
class Preview:
    """What an approval card shows before a changing step runs."""

    summary: str
    cell_id: str | None = None
    diff: str | None = None
    code: str | None = None


@dataclass
class ToolOutcome:
    """A finished call: ``result`` goes back to the model, ``summary`` to the user's step line."""

    result: str
    summary: str
    cell_id: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    failed: bool = False  # the tool ran but what it ran failed (a cell that raised)


Handler = Callable[[ToolContext, dict[str, Any]], Awaitable[ToolOutcome]]
Previewer = Callable[[ToolContext, dict[str, Any]], Awaitable[Preview]]


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    parameters: dict[str, Any]
    kind: ToolKind
    handler: Handler
    preview: Previewer | None = None

    @property
    def changes(self) -> bool:
        return self.kind != "read"

    def spec(self) -> ToolSpec:
        return ToolSpec(self.name, self.description, self.parameters)


class ToolRegistry:
    def __init__(self, tools: tuple[Tool, ...] | list[Tool] = ()) -> None:
        self._tools: dict[str, Tool] = {}
        for tool in tools:
            self.register(tool)

    def register(self, tool: Tool) -> None:
        if tool.name in self._tools:
            raise ValueError(f"an agent tool named {tool.name!r} is registered already")
        self._tools[tool.name] = tool

    def get(self, name: str) -> Tool | None:
        return self._tools.get(name)

    def __iter__(self) -> Iterator[Tool]:
        return iter(self._tools.values())

    def __len__(self) -> int:
        return len(self._tools)

    def names(self) -> list[str]:
        return list(self._tools)

    def specs(self) -> list[ToolSpec]:
        return [t.spec() for t in self]

    def check(self, name: str, arguments: Any) -> str | None:
        """Why a call cannot run as given (unknown tool, arguments the schema rejects), or None."""
        tool = self._tools.get(name)
        if tool is None:
            return f"There is no tool named {name!r}; the tools are: {', '.join(self._tools)}."
        if not isinstance(arguments, dict):
            return "The arguments must be a JSON object."
        from jsonschema import Draft202012Validator

        errors = sorted(Draft202012Validator(tool.parameters).iter_errors(arguments), key=lambda e: e.path)
        if errors:
            first = errors[0]
            where = ".".join(str(p) for p in first.absolute_path) or "arguments"
            return f"Invalid arguments for {name}: {where}: {first.message}"
        return None
