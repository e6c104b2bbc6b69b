"""NEXUS on Jupyter's event bus: the schema ids, and an emitter that is safe from any thread.

Every NEXUS event has a JSON schema in ``event_schemas/<area>/v1.yaml``, registered
on the server's jupyter_events ``EventLogger`` at start-up, so the bus validates
what is emitted and JupyterLab receives it on Jupyter's own event websocket
(``/api/events/subscribe``, ``app.serviceManager.events`` in the browser): task
progress, learning progress, model loads, voice commands and plugin errors.

``EventLogger.emit`` hands events to its listeners with ``asyncio.create_task``,
so it must run on the server's event loop; a model load reports from a worker
thread, so ``NexusEvents.emit`` hops onto the loop when called elsewhere. A bus
failure is logged, never raised: an event must not fail the work it reports.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

SCHEMA_DIR = Path(__file__).with_name("event_schemas")
TASK = "https://events.nexus-jupyter.org/tasks/v1"
LEARN = "https://events.nexus-jupyter.org/learn/v1"
MODEL = "https://events.nexus-jupyter.org/model/v1"
PLUGIN = "https://events.nexus-jupyter.org/plugins/v1"
VOICE_COMMAND = "https://events.nexus-jupyter.invalid/voice/command/v1"


def schema_files() -> list[Path]:
    return sorted(SCHEMA_DIR.glob("*/v*.yaml"))


def register_schemas(logger: Any) -> None:
    """Register every NEXUS schema not yet known to ``logger`` (a second app in one process shares it)."""
    for schema in schema_files():
        try:
            logger.register_event_schema(schema)
        except Exception as exc:  # already registered (tests/test_events.py proves each one is valid)
            log.debug("NEXUS event schema %s not registered: %s", schema.name, exc)


class NexusEvents:
    """Emit NEXUS events on the server's ``EventLogger`` from the loop or from a worker thread."""

    def __init__(self, logger: Any = None, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.logger = logger
        self._loop = loop

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """The loop events are delivered on (the server's); learned on the first emit from it otherwise."""
        self._loop = loop

    def emit(self, schema_id: str, data: dict[str, Any]) -> None:
        if self.logger is None:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is not None:
            self._loop = self._loop or running
            self._emit_now(schema_id, data)
        elif self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._emit_now, schema_id, data)
        else:  # no loop yet (server start-up): only logging handlers can be listening
            self._emit_now(schema_id, data)

    def _emit_now(self, schema_id: str, data: dict[str, Any]) -> None:
        try:
            self.logger.emit(schema_id=schema_id, data=data)
        except Exception:
            log.exception("could not emit the NEXUS event %s", schema_id)
