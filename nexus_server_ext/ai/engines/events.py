"""Model loads on the event bus: each engine reports ``loading`` / ``loaded`` / ``failed``.

Engines are process-wide (one per model) and load on a worker thread, so they
report to plain listeners here; ``watch_model_loads`` turns those reports into
``model/v1`` events on a server's bus (JupyterLab shows a progress bar while a
model loads). A listener that fails is logged and never breaks a load.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ...events import MODEL

if TYPE_CHECKING:
    from ...events import NexusEvents
    from .base import Engine

log = logging.getLogger(__name__)

LoadListener = Callable[["Engine"], None]
_listeners: list[LoadListener] = []
_lock = threading.Lock()


def add_load_listener(listener: LoadListener) -> Callable[[], None]:
    """Call ``listener(engine)`` whenever an engine's load state changes; returns the remover."""
    with _lock:
        _listeners.append(listener)

    def remove() -> None:
        with _lock:
            if listener in _listeners:
                _listeners.remove(listener)

    return remove


def notify_load(engine: Engine) -> None:
    """Called by ``Engine.load`` (on whichever thread loads) at each state change."""
    with _lock:
        listeners = list(_listeners)
    for listener in listeners:
        try:
            listener(engine)
        except Exception:
            log.exception("a model-load listener failed")


def load_event(engine: Engine) -> dict[str, Any]:
    """The ``model/v1`` event for an engine's state now."""
    facts = engine.describe()
    return {
        "model": str(facts["source"]),
        "backend": str(facts["backend"]),
        "state": str(facts["state"]),
        "device": facts["device"],
        "seconds": facts["load_seconds"],
        "error": facts["error"],
    }


def watch_model_loads(events: NexusEvents) -> Callable[[], None]:
    """Emit a ``model/v1`` event on ``events`` for every load; returns the function that stops it."""
    return add_load_listener(lambda engine: events.emit(MODEL, load_event(engine)))
