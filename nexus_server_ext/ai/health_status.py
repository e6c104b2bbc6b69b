"""The local engine's live state in ``/status`` (replacing the install probe) and optional preloading."""

from __future__ import annotations

import logging
import threading
from typing import Any

from ..api_models import ComponentStatus
from ..components import OPTIONAL_COMPONENTS, ComponentRegistry
from .router import ModelRouter

log = logging.getLogger(__name__)


def _local_engines(router: ModelRouter) -> list[Any]:
    from .providers.local import LocalProvider

    return [p.engine for p in router.providers.values() if isinstance(p, LocalProvider)]


def register_engine_health(components: ComponentRegistry, router: ModelRouter) -> None:
    """``local_model`` in ``/status``: not loaded / loading / loaded (device, load time) / failed."""
    probe = next(c for c in OPTIONAL_COMPONENTS if c.name == "local_model").probe

    def check() -> ComponentStatus:
        engines = _local_engines(router)
        installed = probe()
        if not engines or installed.state != "ok":
            return installed
        engine = engines[0]
        if engine.state == "loaded":
            detail = f"loaded on {engine.device} in {engine.load_seconds:.1f} s; {engine.pending} queued"
            return ComponentStatus(name="local_model", state="ok", detail=detail)
        if engine.state == "failed":
            return ComponentStatus(
                name="local_model", state="degraded", detail=f"failed to load: {engine.error}"
            )
        if engine.state == "loading":
            return ComponentStatus(name="local_model", state="ok", detail="loading")
        return ComponentStatus(name="local_model", state="ok", detail="not loaded; loads on first use")

    components.register("local_model", check)


def preload(router: ModelRouter) -> None:
    """Load the local engine(s) on a daemon thread so the first request does not wait for it."""

    def run() -> None:
        for engine in _local_engines(router):
            try:
                engine.load()
            except Exception as exc:  # reported through /status
                log.error("NEXUS could not preload the local model: %s", exc)

    threading.Thread(target=run, name="nexus-preload", daemon=True).start()
