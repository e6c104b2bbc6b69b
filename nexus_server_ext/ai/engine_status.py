"""The local engine's live state in ``/status`` (replacing the install probe) and its background load.

The ``local_model`` component's ``detail`` starts with the engine's state, which
clients rely on: ``loading`` (also from the moment a background load is asked
for), ``loaded on ...``, ``not loaded; ...`` or ``failed to load: ...``.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from ..api_models import ComponentStatus
from ..components import OPTIONAL_COMPONENTS, ComponentRegistry
from .router import ModelRouter

log = logging.getLogger(__name__)

_preload_asked: set[int] = set()  # id() of engines a background load was started for


def _local_engines(router: ModelRouter) -> list[Any]:
    from .providers.local import LocalProvider

    return [p.engine for p in router.providers.values() if isinstance(p, LocalProvider)]


def engine_state(engine: Any) -> str:
    """``not loaded | loading | loaded | failed``; ``loading`` as soon as a background load was asked for."""
    state = str(engine.describe()["state"])
    return "loading" if state == "not loaded" and id(engine) in _preload_asked else state


def register_engine_health(components: ComponentRegistry, router: ModelRouter) -> None:
    """``local_model`` in ``/status``: not loaded / loading / loaded (device, load time) / failed."""
    probe = next(c for c in OPTIONAL_COMPONENTS if c.name == "local_model").probe

    def check() -> ComponentStatus:
        engines = _local_engines(router)
        installed = probe()
        if not engines or installed.state != "ok":
            return installed
        engine = engines[0]
        facts = engine.describe()
        state = engine_state(engine)
        if state == "loaded":
            detail = f"loaded on {facts['device']} in {facts['load_seconds']} s; {facts['queued']} queued"
            return ComponentStatus(name="local_model", state="ok", detail=detail)
        if state == "failed":
            return ComponentStatus(
                name="local_model", state="degraded", detail=f"failed to load: {facts['error']}"
            )
        if state == "loading":
            return ComponentStatus(name="local_model", state="ok", detail="loading")
        return ComponentStatus(name="local_model", state="ok", detail="not loaded; loads on first use")

    components.register("local_model", check)


def answering_first(router: ModelRouter) -> list[Any]:
    """Local engines that answer first for some task: a local model behind a configured remote one
    (a team's gateway, an API key) is only a fallback, and loading it would waste the memory."""
    first = {
        chain[0].provider
        for task in router.routing.tasks
        if task != "embeddings" and (chain := router.usable_chain(task))  # embeddings: MiniLM, not an LLM
    }
    from .providers.local import LocalProvider

    return [
        p.engine for name, p in router.providers.items() if name in first and isinstance(p, LocalProvider)
    ]


def preload(router: ModelRouter, only_first: bool = False) -> None:
    """Load the local engine(s) on a daemon thread so the first request does not wait for it.
    ``only_first``: just those that answer first for some task (the first-client preload)."""
    candidates = answering_first(router) if only_first else _local_engines(router)
    engines = [e for e in candidates if e.describe()["state"] == "not loaded"]
    if not engines:
        return
    _preload_asked.update(id(e) for e in engines)

    def run() -> None:
        for engine in engines:
            try:
                engine.load()
            except Exception as exc:  # reported through /status
                log.error("NEXUS could not preload the local model: %s", exc)
            finally:
                _preload_asked.discard(id(engine))

    threading.Thread(target=run, name="nexus-preload", daemon=True).start()
