"""Model providers, found through the ``nexus.providers`` entry-point group.

A provider class is registered under its ``kind`` (``local``, ``openai``,
``anthropic``); a third-party package adds one with::

    [project.entry-points."nexus.providers"]
    mykind = "my_package.provider:MyProvider"

and a routing file then uses ``kind: mykind``. The built-in kinds are always
available, even from a source checkout whose entry points are not installed.
"""

from __future__ import annotations

import logging
from importlib import import_module
from importlib.metadata import entry_points
from typing import Any

from .base import Provider

__all__ = ["BUILTIN_PROVIDERS", "Provider", "build_providers", "provider_classes"]

log = logging.getLogger(__name__)

BUILTIN_PROVIDERS = {
    "local": "nexus_server_ext.ai.providers.local:LocalProvider",
    "openai": "nexus_server_ext.ai.providers.openai:OpenAIProvider",
    "anthropic": "nexus_server_ext.ai.providers.anthropic:AnthropicProvider",
}


def _load(target: str) -> type[Provider]:
    module, _, attr = target.partition(":")
    cls: type[Provider] = getattr(import_module(module), attr)
    return cls


def provider_classes() -> dict[str, type[Provider]]:
    """Every provider kind: the built-ins, overridden or extended by installed entry points."""
    classes = {kind: _load(target) for kind, target in BUILTIN_PROVIDERS.items()}
    for ep in entry_points(group="nexus.providers"):
        try:
            cls = ep.load()
        except Exception as exc:  # a broken plug-in must not take NEXUS down
            log.error("NEXUS provider plug-in %s could not be loaded: %s", ep.name, exc)
            continue
        if isinstance(cls, type) and issubclass(cls, Provider):
            classes[ep.name] = cls
        else:
            log.error("NEXUS provider plug-in %s is not a Provider subclass", ep.name)
    return classes


def build_providers(specs: dict[str, dict[str, Any]]) -> dict[str, Provider]:
    """One provider instance per entry of the routing file's ``providers`` section."""
    classes = provider_classes()
    out: dict[str, Provider] = {}
    for name, spec in specs.items():
        cls = classes.get(spec["kind"])
        if cls is None:
            log.error("NEXUS provider %s has unknown kind %r; it is skipped", name, spec["kind"])
            continue
        out[name] = cls(name, spec)
    return out
