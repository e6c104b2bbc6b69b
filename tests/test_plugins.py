"""Plugins end to end: a real package installed into this environment, loaded through its entry points.

The example plugin (tests/plugins/nexus_example_plugin) provides a server command, a
frontend command, an intent, and one broken entry point that must be reported, not fatal.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import subprocess
import sys
from collections.abc import Iterator
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

import pytest

from nexus_server_ext.commands import CommandRegistry, builtin_registry
from nexus_server_ext.plugins import (
    BUILTIN_INTENTS,
    COMMANDS_GROUP,
    IntentRegistry,
    command_acceptor,
    load_group,
    load_plugins,
)

PLUGIN_DIR = Path(__file__).parent / "plugins" / "nexus_example_plugin"


@pytest.fixture(scope="module")
def example_plugin() -> Iterator[None]:
    """pip-install the example plugin (a regular, non-editable install), and remove it after this
    module's tests: every server started later would load its commands too (voice, for one, reads the
    command phrases into Whisper's prompt), so no other test may depend on whether it ran first."""

    def pip(*args: str) -> None:
        proc = subprocess.run(
            [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q", *args],
            capture_output=True,
            text=True,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr

    pip("install", "--no-deps", "--no-build-isolation", str(PLUGIN_DIR))
    importlib.invalidate_caches()
    try:
        yield
    finally:
        pip("uninstall", "-y", "nexus-example-plugin")
        importlib.invalidate_caches()


def test_loader_is_tolerant_and_refuses_clashes() -> None:
    registry = builtin_registry()
    eps = [
        EntryPoint("dup", "nexus_server_ext.commands:BUILTIN_COMMANDS", COMMANDS_GROUP),
        EntryPoint("wrong", "nexus_server_ext.commands:builtin_registry", COMMANDS_GROUP),
        EntryPoint("gone", "no_such_module:x", COMMANDS_GROUP),
    ]
    records = load_group(COMMANDS_GROUP, command_acceptor(registry), eps)
    assert [(r.name, r.state) for r in records] == [
        ("dup", "broken"),
        ("wrong", "broken"),
        ("gone", "broken"),
    ]
    assert "already taken" in (records[0].error or "")
    assert "Command objects" in (records[1].error or "")
    assert "ModuleNotFoundError" in (records[2].error or "")
    assert len(registry) == len(builtin_registry())  # nothing half-registered


def test_installed_plugin_extends_the_shared_registries(example_plugin: None) -> None:
    commands, intents = CommandRegistry(), IntentRegistry(BUILTIN_INTENTS)
    catalog = load_plugins(commands, intents)
    by_name = {(r.group, r.name): r for r in catalog.records}
    assert by_name[("nexus.commands", "example")].provides == [
        "word-count",
        "toggle-sidebar",
        "summarise-notebook",
    ]
    assert by_name[("nexus.commands", "example")].distribution == "nexus-example-plugin"
    assert by_name[("nexus.intents", "example")].provides == ["summarise"]
    assert by_name[("nexus.commands", "broken")].state == "broken"
    assert commands.get("word-count") is not None and intents.get("summarise") is not None
    assert catalog.status().state == "degraded"


async def test_a_plugin_provider_answers_for_its_kind_in_the_routing_file(
    example_plugin: None, make_routing: Any
) -> None:
    """``kind: example-shout`` in a routing file: the plugin's provider class, found through the
    ``nexus.providers`` entry point, answers the chain's requests (and is listed as a plugin)."""
    from nexus_server_ext.ai.providers import provider_classes
    from nexus_server_ext.ai.router import ModelRouter
    from nexus_server_ext.ai.types import ChatMessage, Delta, Done

    assert provider_classes()["example-shout"].__module__ == "nexus_example_plugin.provider"
    router = ModelRouter(make_routing({"shout": {"kind": "example-shout"}}, [("shout", "shout-1")]))
    text, done = "", None
    async for event in router.stream("natural_language", [ChatMessage("user", "hello there")]):
        if isinstance(event, Delta):
            text += event.text
        elif isinstance(event, Done):
            done = event
    assert text == "shout-1: HELLO THERE"
    assert done is not None and (done.meta.provider, done.meta.model) == ("shout", "shout-1")
    catalog = load_plugins(CommandRegistry(), IntentRegistry(BUILTIN_INTENTS))
    record = next(r for r in catalog.records if r.group == "nexus.providers" and r.name == "example-shout")
    assert record.state == "loaded" and record.distribution == "nexus-example-plugin"


async def test_plugin_commands_and_extensions_through_the_server(
    example_plugin: None, jp_fetch: Any, nexus_services: Any
) -> None:
    plugins = json.loads((await jp_fetch("nexus/api/v1/extensions")).body)["plugins"]
    example = next(p for p in plugins if p["name"] == "example" and p["group"] == "nexus.commands")
    assert example["state"] == "loaded" and example["version"] == "0.1.0"
    broken = next(p for p in plugins if p["name"] == "broken")
    assert broken["state"] == "broken" and "ModuleNotFoundError" in broken["error"]

    status = json.loads((await jp_fetch("nexus/api/v1/status")).body)
    component = next(c for c in status["components"] if c["name"] == "plugins")
    assert component["state"] == "degraded" and "broken" in component["detail"]

    commands = {c["name"]: c for c in json.loads((await jp_fetch("nexus/api/v1/commands")).body)["commands"]}
    assert commands["word-count"]["source"] == "nexus-example-plugin"
    assert commands["word-count"]["target"] == "server" and commands["run-cell"]["target"] == "frontend"
    # The voice mapper and slash commands read this same registry object.
    assert nexus_services.commands.get("toggle-sidebar").lab_command == "application:toggle-left-area"
    assert nexus_services.intents.get("summarise").description.startswith("Summarise")

    r = await jp_fetch(
        "nexus/api/v1/commands/word-count", method="POST", body=json.dumps({"text": "one two three"})
    )
    reply = json.loads(r.body)
    assert reply["executed"] is True and reply["result"] == {"words": 3, "user": nexus_services.owner_name}
    r = await jp_fetch("nexus/api/v1/commands/toggle-sidebar", method="POST", body="{}")
    assert json.loads(r.body) == {
        "command": "toggle-sidebar", "target": "frontend", "executed": False,
        "lab_command": "application:toggle-left-area", "intent": None, "result": None,
    }  # fmt: skip
    r = await jp_fetch("nexus/api/v1/commands/word-count", method="POST", body="{}", raise_error=False)
    assert r.code == 400 and "needs text" in json.loads(r.body)["message"]
    r = await jp_fetch("nexus/api/v1/commands/no-such", method="POST", body="{}", raise_error=False)
    assert r.code == 404

    await nexus_services.drain()
    events = await nexus_services.audit.query(action="command")
    assert {(e.resource, e.outcome) for e in events} >= {
        ("command:word-count", "ok"),
        ("command:toggle-sidebar", "delegated"),
    }


async def chat(
    ws: Any, request_id: str, text: str, **context: Any
) -> tuple[dict[str, Any], str, dict[str, Any]]:
    """One chat over the websocket: (chat.started, the streamed answer, chat.done)."""
    await ws.write_message(json.dumps({"type": "chat", "id": request_id, "text": text, "context": context}))
    frames = []
    while True:
        message = await asyncio.wait_for(ws.read_message(), 120)
        assert message is not None, "the socket closed"
        frame = json.loads(message)
        if frame.get("id") != request_id:
            continue
        assert frame["type"] != "error", frame
        frames.append(frame)
        if frame["type"] == "chat.done":
            answer = "".join(f["text"] for f in frames if f["type"] == "chat.delta")
            return frames[0], answer, frame


async def test_a_plugin_intent_and_command_are_reached_from_chat_and_voice(
    example_plugin: None, jp_fetch: Any, jp_ws_fetch: Any, jp_root_dir: Path, nexus_services: Any
) -> None:
    notebook = {
        "cells": [
            {"cell_type": "markdown", "metadata": {}, "source": "# Tide tables\nWhen the boats leave."},
            {"cell_type": "code", "metadata": {}, "source": "high = 6.4", "outputs": []},
            {"cell_type": "code", "metadata": {}, "source": "print(high)", "outputs": []},
        ],
        "metadata": {}, "nbformat": 4, "nbformat_minor": 5,
    }  # fmt: skip
    (jp_root_dir / "tides.ipynb").write_text(json.dumps(notebook))
    summary = "Summary of tides.ipynb (Tide tables): 2 code cells, 1 markdown cells."
    ws = await jp_ws_fetch("nexus/api/v1/ws")
    try:
        # Free text: the classifier learnt the plugin intent's examples, and its handler answers.
        started, answer, done = await chat(
            ws, "s1", "please summarise this notebook", notebook_path="tides.ipynb"
        )
        assert started["intent"] == "summarise" and answer == summary
        assert (done["model"], done["provider"]) == ("summarise", "nexus-example-plugin")
        # Its name is a slash command too.
        started, answer, _ = await chat(ws, "s2", "/summarise", notebook_path="tides.ipynb")
        assert started["intent"] == "summarise" and answer == summary
        # The plugin's server command, as a slash command in the chat.
        started, answer, done = await chat(ws, "w1", "/word-count one two three")
        assert started["intent"] == "command" and '"words": 3' in answer
        assert done["provider"] == "nexus-example-plugin"

        # Voice: the command mapper knows the plugin's commands.
        async def interpret(text: str) -> dict[str, Any]:
            r = await jp_fetch("nexus/api/v1/voice/interpret", method="POST", body=json.dumps({"text": text}))
            return dict(json.loads(r.body))

        spoken = await interpret("summarise this notebook")
        assert spoken["action"] == "run", spoken
        assert spoken["command"]["name"] == "summarise-notebook" and spoken["command"]["target"] == "intent"
        assert spoken["command"]["source"] == "nexus-example-plugin"
        # An intent command goes to the chat as the transcript (what the voice button does): same answer.
        started, answer, _ = await chat(ws, "s3", "summarise this notebook", notebook_path="tides.ipynb")
        assert started["intent"] == spoken["command"]["intent"] and answer == summary

        spoken = await interpret("count words four little words here")
        assert spoken["action"] == "run", spoken
        assert (spoken["command"]["name"], spoken["command"]["target"]) == ("word-count", "server")
        # A server command runs on the server with the spoken words (what the voice button does).
        r = await jp_fetch(
            "nexus/api/v1/commands/word-count",
            method="POST",
            body=json.dumps({"text": spoken["command"]["text"]}),
        )
        assert json.loads(r.body)["result"]["words"] == 4
    finally:
        ws.close()
