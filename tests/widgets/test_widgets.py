"""The widgets' traits and messages, answered by the real in-process engine and the bundled Whisper.

The routing puts a gateway that is down (a closed local port) ahead of the bundled
model, so every answer really falls back and the dashboard has something to show.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "kernel"))
from kernel_helpers import fast_routing_file  # noqa: E402


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def transport(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from nexus_kernel.inprocess import InProcessTransport

    folder = tmp_path_factory.mktemp("widgets")
    path = fast_routing_file(folder, max_tokens=24)
    routing = yaml.safe_load(path.read_text())
    routing["providers"]["gateway"].update(base_url=f"http://127.0.0.1:{closed_port()}/v1", api_key="k")
    path.write_text(yaml.safe_dump(routing))
    yield InProcessTransport(str(path))


def wait_until(predicate: Any, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_chat_widget_streams_an_answer_sent_from_the_browser(transport: Any) -> None:
    from nexus_widgets import ChatWidget

    widget = ChatWidget(transport=transport)
    seen: list[list[dict[str, Any]]] = []
    widget.observe(lambda change: seen.append(change["new"]), "messages")
    widget._handle_custom_msg({"type": "chat", "text": "Say hello to Ada."}, [])  # what chat.js sends
    wait_until(lambda: seen and not widget.busy and widget.messages[-1].get("model"))
    user, answer = widget.messages
    assert user == {"role": "user", "content": "Say hello to Ada."}
    assert answer["role"] == "assistant" and answer["content"].strip()
    assert answer["model"] == "SmolLM2-135M-Instruct" and answer["provider"] == "local"
    assert len(seen) >= 3  # the assistant message grew while the model wrote
    assert widget.error == ""
    # a second question carries the first turn along; clear empties the conversation
    widget.ask("And to Grace?")
    assert [m["role"] for m in widget.messages] == ["user", "assistant", "user", "assistant"]
    widget._handle_custom_msg({"type": "clear"}, [])
    assert widget.messages == []
    with pytest.raises(ValueError, match="empty"):
        widget.ask("  ")


def test_dashboard_shows_chains_health_and_the_recent_fallbacks(transport: Any) -> None:
    from nexus_widgets import ModelDashboard

    dashboard = ModelDashboard(transport=transport, refresh_s=0)
    tasks = {t["task"]: t for t in dashboard.tasks}
    chain = tasks["natural_language"]["chain"]
    assert [s["provider"] for s in chain] == ["gateway", "anthropic", "local"]
    assert chain[0]["health"]["failures"] >= 1 and chain[0]["health"]["last_error"]
    assert chain[-1]["state"] == "usable" and chain[-1]["health"]["latency_ms"] > 0
    assert dashboard.fallbacks, "the gateway being down must show as a fallback"
    first = dashboard.fallbacks[0]
    assert first["answered_by"] == "local/SmolLM2-135M-Instruct" and first["failed"][0].startswith("gateway/")
    before = dashboard.refreshed_at
    time.sleep(1.1)
    dashboard._handle_custom_msg({"type": "refresh"}, [])  # the refresh button / timer
    assert dashboard.refreshed_at != before


def test_voice_recorder_transcribes_a_recording_and_finds_the_command(transport: Any, tmp_path: Path) -> None:
    from nexus_widgets import VoiceRecorder

    wav = tmp_path / "say.wav"
    subprocess.run(["espeak-ng", "-s", "140", "-w", str(wav), "Run this cell."], check=True)
    recorder = VoiceRecorder(transport=transport)
    recorder._handle_custom_msg({"type": "audio", "mime": "audio/wav"}, [memoryview(wav.read_bytes())])
    wait_until(lambda: recorder.transcript and recorder.state == "idle", timeout=120)
    assert "cell" in recorder.transcript.lower()
    assert recorder.command["name"] == "run-cell" and recorder.source == "in-process"
    recorder._handle_custom_msg({"type": "audio", "mime": "audio/webm"}, [])
    assert recorder.error == "the browser sent no audio"
    with pytest.raises(ValueError, match="empty"):
        recorder.transcribe_bytes(b"")
