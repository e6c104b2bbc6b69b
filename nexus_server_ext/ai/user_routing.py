"""The user routing file: the shipped routing with a pulled model as the local one.

``jupyter nexus models pull`` / ``use`` (and the model dashboard) write
``<data_dir>/routing.yaml``: the shipped ``models/routing.yaml`` with the
``local`` provider's ``model`` set to the pulled GGUF and the local steps of
chat (``natural_language``), ``code_generation``, ``code_analysis``,
``completion`` and ``agent`` named after it. ``models use bundled`` deletes it.
``NexusApp.routing_file`` defaults to it while it exists (``NEXUS_ROUTING_FILE``
and an explicit setting still win), and so does the in-process kernel.

NEXUS owns the file: ``active.json`` beside the pulled models says which model
it names and which shipped routing it was made from, so that after an upgrade
changes the shipped routing the file is made again from the new one, and a
pulled file that has since disappeared falls back to the bundled model instead
of leaving NEXUS without one. To customise routing, copy the file elsewhere and
point ``NexusApp.routing_file`` at the copy.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .._version import __version__
from .model_catalog import BUNDLED, BUNDLED_SOURCE
from .model_pull import PulledModel, models_dir
from .routing import default_routing_file, load_routing

log = logging.getLogger(__name__)

ROUTING_FILE = "routing.yaml"
ACTIVE_FILE = "active.json"
# The tasks whose local step names the pulled model (embeddings stay on the bundled MiniLM).
SWITCHED_TASKS = ("natural_language", "code_generation", "code_analysis", "completion", "agent")

_HEADER = """\
# Written by `jupyter nexus models` (NEXUS {version}): the shipped models/routing.yaml with
# {name} as the local model. `jupyter nexus models use bundled` deletes this file; NEXUS
# rewrites it when the shipped routing changes, so edits here do not last: to customise
# routing, copy this file elsewhere and point NexusApp.routing_file at the copy.
"""


@dataclass(frozen=True)
class ActiveModel:
    """What the user routing file names: a pulled model's name and file, or the bundled model."""

    name: str  # a catalogue name, or ``bundled``
    source: str  # the ``local`` provider's ``model``: a GGUF path or ``bundled:...``


BUNDLED_ACTIVE = ActiveModel(BUNDLED, BUNDLED_SOURCE)


def default_data_dir() -> str:
    """``NexusApp.data_dir``'s default: ``NEXUS_DATA_DIR``, else ``<jupyter data dir>/nexus``."""
    from jupyter_core.paths import jupyter_data_dir

    return os.environ.get("NEXUS_DATA_DIR") or str(Path(jupyter_data_dir()) / "nexus")


def user_routing_file(data_dir: str | Path) -> Path:
    return Path(data_dir) / ROUTING_FILE


def _shipped_digest() -> str:
    return hashlib.sha256(default_routing_file().read_bytes()).hexdigest()


def _read_active(data_dir: str | Path) -> dict[str, Any] | None:
    try:
        data = json.loads((models_dir(data_dir) / ACTIVE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("name") and data.get("path") else None


def active_model(data_dir: str | Path) -> ActiveModel:
    """The model the user routing file names (the bundled one when there is no such file)."""
    record = _read_active(data_dir)
    if record is None or not user_routing_file(data_dir).is_file():
        return BUNDLED_ACTIVE
    return ActiveModel(str(record["name"]), str(record["path"]))


def routing_with(name: str, gguf: Path) -> dict[str, Any]:
    """The shipped routing (as parsed YAML, ``${VAR}`` kept) with ``gguf`` as the local model."""
    raw = yaml.safe_load(default_routing_file().read_text(encoding="utf-8"))
    local = {n for n, spec in raw["providers"].items() if spec.get("kind") == "local"}
    for provider in local:
        raw["providers"][provider]["model"] = str(gguf)
        raw["providers"][provider]["backend"] = "llama_cpp"
    for task in SWITCHED_TASKS:
        for step in (raw["tasks"].get(task) or {}).get("chain", []):
            if step["provider"] in local:
                step["model"] = name
    return raw


def write_user_routing(data_dir: str | Path, model: PulledModel) -> Path:
    """Route chat, code generation and completion to ``model``; the file written (checked by loading it)."""
    path = user_routing_file(data_dir)
    raw = routing_with(model.name, model.path)
    text = _HEADER.format(version=__version__, name=model.name) + yaml.safe_dump(raw, sort_keys=False)
    tmp = path.with_suffix(".yaml.tmp")
    tmp.parent.mkdir(parents=True, exist_ok=True)
    tmp.write_text(text, encoding="utf-8")
    try:
        load_routing(tmp)  # never leave a file behind that the server would refuse
    except Exception:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)
    record = {"name": model.name, "path": str(model.path), "shipped_sha256": _shipped_digest()}
    models_dir(data_dir).mkdir(parents=True, exist_ok=True)
    (models_dir(data_dir) / ACTIVE_FILE).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return path


def use_bundled(data_dir: str | Path) -> bool:
    """Back to the shipped routing (the bundled model); False when it was in use already.

    Only a routing file NEXUS wrote is deleted (``active.json`` names it)."""
    if _read_active(data_dir) is None:
        return False
    user_routing_file(data_dir).unlink(missing_ok=True)
    (models_dir(data_dir) / ACTIVE_FILE).unlink(missing_ok=True)
    return True


def current_routing_file(data_dir: str | Path) -> str:
    """The user routing file if NEXUS should use it, else "" (the shipped routing).

    Made again from the shipped routing when that changed since (an upgrade); "" with a warning when
    the pulled file it names is gone. A ``routing.yaml`` NEXUS did not write is not used by default.
    """
    path = user_routing_file(data_dir)
    record = _read_active(data_dir)
    if record is None or not path.is_file():
        return ""
    gguf = Path(record["path"])
    if not gguf.is_file():
        log.warning(
            "NEXUS: the pulled model %s is gone (%s); using the bundled model", record["name"], gguf.name
        )
        return ""
    if record.get("shipped_sha256") != _shipped_digest():
        try:
            from .model_pull import pulled_model

            pulled = pulled_model(data_dir, str(record["name"]))
            if pulled is not None:
                write_user_routing(data_dir, pulled)
        except Exception as exc:  # the old file still routes to the pulled model
            log.warning("NEXUS could not update %s to the new shipped routing: %s", path.name, exc)
    return str(path)


def manages_routing(data_dir: str | Path, routing_file: str) -> bool:
    """Whether a server whose routing file setting is ``routing_file`` follows the user routing file:
    the shipped default, or the file NEXUS wrote (not a file an administrator chose)."""
    if not routing_file:
        return True
    path = user_routing_file(data_dir)
    return _read_active(data_dir) is not None and Path(routing_file).resolve() == path.resolve()
