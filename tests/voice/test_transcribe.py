"""POST /voice/transcribe: transcripts, limits, refusals, and what silence and noise do (nothing)."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
from sqlalchemy import func, select

from nexus_server_ext.handlers.voice import COMMAND_SCHEMA_ID
from nexus_server_ext.store.models import AuditEvent


def voice_audits(services: Any) -> list[AuditEvent]:
    return services.database.call(
        lambda s: list(s.scalars(select(AuditEvent).where(AuditEvent.action == "voice_command")))
    )


def listen(serverapp: Any) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []

    async def listener(logger: Any, schema_id: str, data: dict[str, Any]) -> None:
        seen.append(data)

    serverapp.event_logger.add_listener(schema_id=COMMAND_SCHEMA_ID, listener=listener)
    return seen


async def test_transcript_with_segments_times_and_timings(audio: Any, transcribe: Any) -> None:
    r = await transcribe(audio.speech("explain this error"), commands="false")
    assert r.code == 200
    reply = json.loads(r.body)
    assert "explain this error" in reply["text"].lower()
    assert reply["language"] == "en"
    assert 1.0 < reply["duration_s"] < 4.0
    segment = reply["segments"][0]
    assert 0.0 <= segment["start"] < segment["end"] <= reply["duration_s"] + 0.1
    assert reply["no_speech_prob"] < 0.6
    assert {"decode_ms", "transcribe_ms", "total_ms"} <= set(reply["timings_ms"])
    assert reply["command"] is None  # ?commands=false


@pytest.mark.parametrize("kind", ["wav", "ogg", "mp3", "multipart"])
async def test_browser_and_file_formats_are_accepted(
    kind: str, audio: Any, transcribe: Any, jp_fetch: Any
) -> None:
    wav = audio.speech_wav("open the chat")
    if kind == "wav":
        r = await transcribe(wav.read_bytes(), "audio/wav")
    elif kind in ("ogg", "mp3"):
        out = wav.with_suffix(f".{kind}")
        codec = ["-c:a", "libopus"] if kind == "ogg" else ["-c:a", "libmp3lame"]
        os.system(f"ffmpeg -loglevel error -y -i {wav} {' '.join(codec)} {out}")
        r = await transcribe(out.read_bytes(), "audio/ogg" if kind == "ogg" else "audio/mpeg")
    else:
        boundary = "nexusboundary"
        body = (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="audio"; filename="rec.webm"\r\n'
                "Content-Type: audio/webm\r\n\r\n"
            ).encode()
            + audio.speech("open the chat")
            + f"\r\n--{boundary}--\r\n".encode()
        )
        r = await transcribe(body, f"multipart/form-data; boundary={boundary}")
    assert r.code == 200, r.body
    assert json.loads(r.body)["command"]["command"]["name"] == "open-chat"


@pytest.mark.parametrize("kind", ["silence", "white_noise", "tones", "chatter"])
async def test_silence_noise_music_and_chatter_do_nothing(
    kind: str, audio: Any, transcribe: Any, nexus_services: Any, jp_serverapp: Any
) -> None:
    events = listen(jp_serverapp)
    data = audio.speech("the weather is lovely today") if kind == "chatter" else getattr(audio, kind)()
    r = await transcribe(data)
    assert r.code == 200
    decision = json.loads(r.body)["command"]
    assert decision["action"] == "none" and decision["command"] is None
    await jp_serverapp.event_logger.gather_listeners()
    assert events == []
    assert voice_audits(nexus_services) == []


async def test_recognised_command_is_emitted_and_audited(
    audio: Any, transcribe: Any, nexus_services: Any, jp_serverapp: Any
) -> None:
    events = listen(jp_serverapp)
    r = await transcribe(audio.speech("run all cells"))
    decision = json.loads(r.body)["command"]
    assert decision["action"] == "run" and decision["command"]["lab_command"] == "notebook:run-all-cells"
    await jp_serverapp.event_logger.gather_listeners()
    assert [(e["command"], e["action"]) for e in events] == [("run-all", "run")]
    assert events[0]["request_id"] == r.headers["X-Request-Id"]
    await nexus_services.drain()
    (row,) = voice_audits(nexus_services)
    assert row.resource == "voice:command/run-all" and row.outcome == "recognised"
    assert row.request_id == r.headers["X-Request-Id"]


async def test_twenty_minute_recording_is_refused_with_413(audio: Any, transcribe: Any) -> None:
    r = await transcribe(audio.long_recording(20 * 60))
    assert r.code == 413
    reply = json.loads(r.body)
    assert reply["error"] == "audio_too_long" and "300 seconds" in reply["message"]


@pytest.mark.parametrize(
    "data", [os.urandom(20000), b"this is not audio", b""], ids=["random", "text", "empty"]
)
async def test_corrupt_audio_is_400_without_a_traceback(data: bytes, transcribe: Any) -> None:
    r = await transcribe(data, "audio/webm")
    assert r.code == 400
    reply = json.loads(r.body)
    assert reply["error"] in ("invalid_audio", "empty_audio")
    assert "Traceback" not in reply["message"] and "/" not in reply["message"].replace("WebM/Opus", "")


async def test_truncated_upload_is_400(audio: Any, transcribe: Any) -> None:
    r = await transcribe(audio.speech("save the notebook")[:300])
    assert r.code == 400


async def test_non_audio_content_type_is_415(transcribe: Any) -> None:
    r = await transcribe(b'{"text": "run cell"}', "application/json")
    assert r.code == 415
    assert "audio" in json.loads(r.body)["message"]


async def test_interpret_maps_text_from_any_recogniser(jp_fetch: Any) -> None:
    async def interpret(text: str) -> dict[str, Any]:
        r = await jp_fetch("nexus/api/v1/voice/interpret", method="POST", body=json.dumps({"text": text}))
        return json.loads(r.body)

    assert (await interpret("we'll start the kernel"))["command"]["name"] == "restart-kernel"
    assert (await interpret("Thank you."))["action"] == "none"


class TestLimits:
    @pytest.fixture
    def jp_server_config(self, nexus_config: Any) -> dict[str, Any]:
        return nexus_config(
            other={
                "RateLimiter": {"classes": {"voice": {"per_minute": 60, "burst": 2}}},
                "Transcriber": {"max_audio_bytes": 20_000, "max_audio_seconds": 2.0},
            }
        )

    async def test_configured_size_and_duration_limits(self, audio: Any, transcribe: Any) -> None:
        big = await transcribe(b"\0" * 30_000, "audio/wav")
        assert big.code == 413 and json.loads(big.body)["error"] == "payload_too_large"
        long = await transcribe(audio.speech("generate code that sorts a list of numbers"))
        assert long.code == 413 and json.loads(long.body)["error"] == "audio_too_long"

    async def test_rate_limited_with_retry_after(
        self, audio: Any, transcribe: Any, nexus_services: Any
    ) -> None:
        clip = audio.silence(1.0)
        codes = [(await transcribe(clip)).code for _ in range(3)]
        assert codes[:2] == [200, 200] and codes[2] == 429
        count = nexus_services.database.call(lambda s: s.scalar(select(func.count()).select_from(AuditEvent)))
        assert count >= 1
