"""NEXUS's event schemas: each is valid, registered on the server's bus, and what NEXUS emits validates."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from jupyter_events import EventLogger

from nexus_server_ext.ai.engines import bundled_gguf
from nexus_server_ext.ai.engines.events import add_load_listener, load_event
from nexus_server_ext.ai.engines.llama_cpp import LlamaCppEngine
from nexus_server_ext.ai.types import ProviderError
from nexus_server_ext.commands import Command
from nexus_server_ext.events import LEARN, MODEL, PLUGIN, TASK, VOICE_COMMAND, NexusEvents, register_schemas
from nexus_server_ext.handlers.plugins import plugin_error
from nexus_server_ext.memory.indexer import Indexer
from nexus_server_ext.memory.vector_memory import VectorMemory

ALL = {TASK, LEARN, MODEL, PLUGIN, VOICE_COMMAND}


@pytest.fixture
def bus() -> tuple[EventLogger, list[tuple[str, dict[str, Any]]]]:
    """A fresh EventLogger with every NEXUS schema and a listener (so every emit is validated)."""
    logger = EventLogger()
    register_schemas(logger)
    seen: list[tuple[str, dict[str, Any]]] = []

    async def listener(logger: Any, schema_id: str, data: dict[str, Any]) -> None:
        seen.append((schema_id, data))

    for schema in ALL:
        logger.add_listener(schema_id=schema, listener=listener)
    return logger, seen


def test_every_schema_is_valid_and_registered(bus: Any) -> None:
    logger, _ = bus
    assert set(logger.schemas.schema_ids) >= ALL


def test_the_server_registers_them_on_its_own_bus(jp_serverapp: Any) -> None:
    assert set(jp_serverapp.event_logger.schemas.schema_ids) >= ALL


def test_an_invalid_event_is_refused(bus: Any) -> None:
    logger, _ = bus
    with pytest.raises(Exception, match="state"):
        logger.emit(
            schema_id=LEARN, data={"target": "x", "trigger": "request", "files_total": 1, "files_done": 0}
        )


async def test_learn_events_validate(bus: Any, tmp_path: Path) -> None:
    logger, seen = bus
    root = tmp_path / "root"
    (root / "docs").mkdir(parents=True)
    (root / "docs" / "guide.md").write_text("# Guide\nDeploy with docker compose up.\n")
    indexer = Indexer(VectorMemory(tmp_path / "chroma"), root)
    job = indexer.start("ann", "docs")
    events = NexusEvents(logger)
    events.emit(LEARN, job.event("ann"))  # pending
    indexer.run(job)
    events.emit(LEARN, job.event("ann"))  # succeeded
    changed = indexer.apply("ann", ["docs/guide.md"], [], {"docs"})
    events.emit(LEARN, changed.event("ann", trigger="watch"))
    await asyncio.sleep(0.05)  # listeners run as tasks
    assert [(d["state"], d["trigger"]) for _, d in seen] == [
        ("pending", "request"),
        ("succeeded", "request"),
        ("succeeded", "watch"),
    ]


async def test_model_load_events_validate(bus: Any, tmp_path: Path) -> None:
    logger, seen = bus
    events = NexusEvents(logger, asyncio.get_running_loop())
    remove = add_load_listener(lambda engine: events.emit(MODEL, load_event(engine)))
    try:
        engine = LlamaCppEngine(str(bundled_gguf()))
        await asyncio.to_thread(engine.load)  # from a worker thread, as the server loads models
        broken = LlamaCppEngine(str(tmp_path / "missing.gguf"))
        with pytest.raises(ProviderError):
            await asyncio.to_thread(broken.load)
        await asyncio.sleep(0.1)
    finally:
        remove()
    states = [(d["model"] == str(bundled_gguf()), d["state"]) for _, d in seen]
    assert states == [(True, "loading"), (True, "loaded"), (False, "loading"), (False, "failed")]
    loaded = seen[1][1]
    assert loaded["device"] and loaded["seconds"] is not None and loaded["backend"] == "llama_cpp"
    assert seen[3][1]["error"]


async def test_plugin_and_task_events_validate(bus: Any) -> None:
    logger, seen = bus
    command = Command(name="shout", title="Shout", intent="chat", source="nexus-shout-plugin")
    events = NexusEvents(logger)
    events.emit(PLUGIN, plugin_error(command, ValueError("no voice left\nsecond line"), "ann"))
    events.emit(
        TASK,
        {"task_id": "a" * 32, "kind": "learn", "state": "running", "progress": 0.5, "message": "1/2 files"},
    )
    await asyncio.sleep(0.05)
    assert seen[0] == (
        PLUGIN,
        {
            "plugin": "nexus-shout-plugin",
            "group": "nexus.commands",
            "stage": "run",
            "command": "shout",
            "error": "ValueError: no voice left",
            "username": "ann",
        },
    )
    assert json.dumps(seen[1][1])  # plain JSON, as the event websocket sends it
