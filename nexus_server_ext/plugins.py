"""Plugins: Python entry points, loaded tolerantly.

Groups: ``nexus.commands`` (commands for the registry), ``nexus.intents``
(intents the consciousness core can route to) and ``nexus.providers`` (model
providers; loaded by the AI engine through the same ``load_group``). An entry
point may name the object itself, a list of them, or a zero-argument callable
returning either. A plugin that fails to import, returns the wrong thing or
clashes with an existing name is recorded as ``broken`` with the reason,
reported on ``/status`` and ``/extensions``, and never stops the server.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from .api_models import ComponentStatus
from .commands import Command, CommandRegistry

log = logging.getLogger(__name__)

COMMANDS_GROUP = "nexus.commands"
INTENTS_GROUP = "nexus.intents"
PROVIDERS_GROUP = "nexus.providers"


@dataclass
class PluginRecord:
    """One entry point and what became of it."""

    group: str
    name: str
    value: str
    distribution: str | None
    version: str | None
    state: str  # loaded | broken
    error: str | None = None
    provides: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Intent:
    """Something a user can mean (``explain``, ``fix``...) that the consciousness core routes to a handler.

    A plugin's intent reaches the chat's classifier (its name becomes a slash command, its ``examples``
    teach free-text classification). ``handler``, an async callable taking a dict (``text``,
    ``username``, ``notebook_path``, ``cell_id``, ``selection``, ``root_dir``) and returning text or
    JSON-able data, answers it; without one the model answers, told the ``description``.
    """

    name: str
    description: str
    examples: tuple[str, ...] = ()
    handler: Callable[..., Any] | None = field(default=None, compare=False)
    source: str = "nexus"


class IntentRegistry:
    def __init__(self, intents: Iterable[Intent] = ()) -> None:
        self._intents: dict[str, Intent] = {}
        for intent in intents:
            self.register(intent)

    def register(self, intent: Intent, *, replace: bool = False) -> None:
        if intent.name in self._intents and not replace:
            raise ValueError(f"an intent named {intent.name!r} is already registered")
        self._intents[intent.name] = intent

    def get(self, name: str) -> Intent | None:
        return self._intents.get(name)

    def __iter__(self) -> Any:
        return iter(self._intents.values())

    def __len__(self) -> int:
        return len(self._intents)


BUILTIN_INTENTS = tuple(
    Intent(name, description)
    for name, description in (
        ("chat", "Talk about code, data or the notebook."),
        ("generate", "Write new code from a description."),
        ("complete", "Continue the code at the cursor."),
        ("explain", "Explain code or an error."),
        ("fix", "Repair code that fails, as a diff."),
        ("refactor", "Restructure code without changing what it does."),
        ("command", "Run an editor or notebook command."),
        ("learn", "Remember a fact or preference."),
    )
)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:500]


def _items(obj: Any) -> list[Any]:
    if callable(obj) and not isinstance(obj, type) and not isinstance(obj, (Command, Intent)):
        obj = obj()
    return list(obj) if isinstance(obj, (list, tuple)) else [obj]


def load_group(
    group: str, accept: Callable[[EntryPoint, Any], list[str]], eps: Iterable[EntryPoint] | None = None
) -> list[PluginRecord]:
    """Load every entry point of ``group``; ``accept(ep, obj)`` registers it and returns what it provides.

    ``accept`` raises (``TypeError``, ``ValueError``) to refuse a plugin; that,
    like an import error, marks the plugin broken instead of propagating.
    """
    records = []
    for ep in entry_points(group=group) if eps is None else eps:
        dist = getattr(ep, "dist", None)
        record = PluginRecord(
            group=group,
            name=ep.name,
            value=ep.value,
            distribution=dist.name if dist else None,
            version=dist.version if dist else None,
            state="loaded",
        )
        try:
            record.provides = accept(ep, ep.load())
        except Exception as exc:  # any failure of third-party code is the plugin's, not the server's
            record.state, record.error = "broken", _describe(exc)
            log.warning("NEXUS plugin %s (%s) could not be loaded: %s", ep.name, group, record.error)
        records.append(record)
    return records


def command_acceptor(registry: CommandRegistry) -> Callable[[EntryPoint, Any], list[str]]:
    def accept(ep: EntryPoint, obj: Any) -> list[str]:
        commands = _items(obj)
        bad = [c for c in commands if not isinstance(c, Command)]
        if bad or not commands:
            raise TypeError(f"{ep.value} must give nexus_server_ext.commands.Command objects")
        clash = [c.name for c in commands if registry.get(c.name) is not None]
        if clash:
            raise ValueError(f"command name(s) already taken: {', '.join(clash)}")
        for command in commands:
            registry.register(_with_source(command, ep))
        return [c.name for c in commands]

    return accept


def intent_acceptor(registry: IntentRegistry) -> Callable[[EntryPoint, Any], list[str]]:
    def accept(ep: EntryPoint, obj: Any) -> list[str]:
        intents = _items(obj)
        if not intents or not all(isinstance(i, Intent) for i in intents):
            raise TypeError(f"{ep.value} must give nexus_server_ext.plugins.Intent objects")
        clash = [i.name for i in intents if registry.get(i.name) is not None]
        if clash:
            raise ValueError(f"intent name(s) already taken: {', '.join(clash)}")
        for intent in intents:
            registry.register(_intent_with_source(intent, ep))
        return [i.name for i in intents]

    return accept


def provider_acceptor(ep: EntryPoint, obj: Any) -> list[str]:
    """A model provider class; the router builds it for routing-file entries of ``kind: <ep name>``."""
    from .ai.providers.base import Provider

    if not (isinstance(obj, type) and issubclass(obj, Provider)):
        raise TypeError(f"{ep.value} must be a nexus_server_ext.ai.providers.base.Provider subclass")
    return [ep.name]


def _intent_with_source(intent: Intent, ep: EntryPoint) -> Intent:
    from dataclasses import replace

    dist = getattr(ep, "dist", None)
    return replace(intent, source=dist.name if dist else ep.name) if intent.source == "nexus" else intent


def _with_source(command: Command, ep: EntryPoint) -> Command:
    from dataclasses import replace

    dist = getattr(ep, "dist", None)
    return replace(command, source=dist.name if dist else ep.name) if command.source == "nexus" else command


class PluginCatalog:
    """Every plugin seen at start-up, for ``/extensions`` and the ``plugins`` component on ``/status``."""

    def __init__(self) -> None:
        self.records: list[PluginRecord] = []

    def extend(self, records: Iterable[PluginRecord]) -> None:
        self.records.extend(records)

    @property
    def broken(self) -> list[PluginRecord]:
        return [r for r in self.records if r.state == "broken"]

    def status(self) -> ComponentStatus:
        if self.broken:
            names = ", ".join(f"{r.name} ({r.group}): {r.error}" for r in self.broken)
            return ComponentStatus(
                name="plugins",
                state="degraded",
                detail=f"{len(self.broken)} of {len(self.records)} plugin(s) failed to load: {names}",
                install_hint="Fix or uninstall the broken plugin package; the others work normally.",
            )
        return ComponentStatus(name="plugins", state="ok", detail=f"{len(self.records)} plugin(s) loaded.")


def load_plugins(commands: CommandRegistry, intents: IntentRegistry) -> PluginCatalog:
    catalog = PluginCatalog()
    installed = entry_points()  # one scan of the installed packages for both groups (a server start pays it)
    catalog.extend(
        load_group(COMMANDS_GROUP, command_acceptor(commands), installed.select(group=COMMANDS_GROUP))
    )
    catalog.extend(load_group(INTENTS_GROUP, intent_acceptor(intents), installed.select(group=INTENTS_GROUP)))
    # model providers of other packages (NEXUS's own local / openai / anthropic are not plugins)
    providers = [ep for ep in installed.select(group=PROVIDERS_GROUP) if _distribution(ep) != "nexus-jupyter"]
    catalog.extend(load_group(PROVIDERS_GROUP, provider_acceptor, providers))
    return catalog


def _distribution(ep: EntryPoint) -> str | None:
    dist = getattr(ep, "dist", None)
    return dist.name if dist else None
