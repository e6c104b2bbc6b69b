"""The model routing file: for each task, the chain of models tried in order.

The shipped default lives in ``models/routing.yaml``; ``NexusApp.routing_file``
points at another. ``${VAR}`` and ``${VAR:-default}`` are read from the
environment so API keys never sit in the file.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..api_models import ModelRef, TaskRouting

_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def bundled_models_dir() -> Path:
    """``models/`` inside the installed package (wheel) or at the repository root (editable install)."""
    packaged = Path(__file__).resolve().parents[1] / "models"
    return packaged if packaged.is_dir() else Path(__file__).resolve().parents[2] / "models"


def default_routing_file() -> Path:
    return bundled_models_dir() / "routing.yaml"


def interpolate(value: Any) -> Any:
    """Replace ``${VAR}`` / ``${VAR:-default}`` in every string of a parsed YAML tree."""
    if isinstance(value, str):
        return _ENV.sub(lambda m: os.environ.get(m.group(1), m.group(2) or ""), value)
    if isinstance(value, dict):
        return {k: interpolate(v) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v) for v in value]
    return value


class RoutingError(ValueError):
    """The routing file is unreadable or invalid; the message names the file and key."""


@dataclass
class RoutingConfig:
    source: Path
    providers: dict[str, dict[str, Any]]
    tasks: dict[str, dict[str, Any]]
    raw: dict[str, Any] = field(repr=False, default_factory=dict)

    def chains(self) -> list[TaskRouting]:
        """The chain per task, as shown by ``/status`` (no URLs, no keys)."""
        return [
            TaskRouting(
                task=task,
                chain=[
                    ModelRef(provider=step["provider"], model=str(step["model"])) for step in spec["chain"]
                ],
            )
            for task, spec in self.tasks.items()
        ]


def load_routing(path: str | Path | None = None) -> RoutingConfig:
    source = Path(path) if path else default_routing_file()
    try:
        raw = yaml.safe_load(source.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise RoutingError(f"cannot read the routing file {source.name}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise RoutingError(f"the routing file {source.name} is not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise RoutingError(f"the routing file {source.name} must be a mapping with 'providers' and 'tasks'")
    providers = raw.get("providers") or {}
    tasks = raw.get("tasks") or {}
    for task, spec in tasks.items():
        chain = (spec or {}).get("chain")
        if not isinstance(chain, list) or not chain:
            raise RoutingError(f"tasks.{task}.chain must be a non-empty list of {{provider, model}}")
        for i, step in enumerate(chain):
            if not isinstance(step, dict) or "provider" not in step or "model" not in step:
                raise RoutingError(f"tasks.{task}.chain[{i}] needs 'provider' and 'model'")
            if step["provider"] not in providers:
                raise RoutingError(
                    f"tasks.{task}.chain[{i}].provider '{step['provider']}' is not in 'providers'"
                )
    return RoutingConfig(source=source, providers=interpolate(providers), tasks=tasks, raw=raw)
