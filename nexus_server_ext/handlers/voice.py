"""``/voice``: speech to text and spoken commands, and the caller's voice profile.

``POST /voice/transcribe`` takes what the browser recorded (the raw body with
its ``audio/*`` Content-Type, or a multipart file field named ``audio``),
answers with the transcript and, unless ``?commands=false``, the command it
maps to. Recognised commands go on the event bus and into the audit log.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from jupyter_server.auth.decorator import authorized
from tornado import web

from ..api_models import (
    TranscriptionReply,
    TranscriptSegment,
    VoiceCommandOut,
    VoiceDecision,
    VoiceInterpretRequest,
    VoiceProfileIn,
    VoiceProfileOut,
)
from ..errors import NexusError, format_size
from ..events import VOICE_COMMAND
from ..voice.audio import check_media_type, decode, media_type
from ..voice.mapper import CommandMatch
from ..voice.transcriber import TranscriberUnavailable
from .base import NexusHandler, Operation

COMMAND_SCHEMA_ID = VOICE_COMMAND

TRANSCRIBE_DOC = (
    "Body: the recording as raw bytes with Content-Type audio/webm (Opus), audio/ogg, audio/wav or "
    "audio/mpeg, or multipart/form-data with a file field `audio`. Query: `commands=false` to skip "
    "command mapping. 413 when the upload or recording is too long, 400 when it is not decodable "
    "audio, 415 for a non-audio Content-Type."
)


def decision_out(match: CommandMatch) -> VoiceDecision:
    command = None
    if match.command is not None:
        c = match.command
        command = VoiceCommandOut(
            name=c.name,
            title=c.title,
            target=c.target,
            lab_command=c.lab_command,
            intent=c.intent,
            text=match.text,
            destructive=c.destructive,
            source=c.source,
        )
    return VoiceDecision(
        action=match.action,
        confidence=max(0.0, min(1.0, match.confidence)),
        reason=match.reason,
        command=command,
        alternatives=[name for name, _ in match.alternatives],
    )


class VoiceHandler(NexusHandler):
    auth_resource = "nexus:voice"

    async def announce(self, match: CommandMatch, transcript: str) -> None:
        """A recognised command goes on the event bus and into the audit log; non-commands go nowhere."""
        if match.command is None or match.action == "none":
            return
        data: dict[str, Any] = {
            "username": self.username,
            "command": match.command.name,
            "action": match.action,
            "reason": match.reason,
            "confidence": float(match.confidence),
            "transcript": transcript[:500],
            "request_id": self.request_id,
        }
        self.nexus.events.emit(COMMAND_SCHEMA_ID, data)  # never fails the user's request
        await self.nexus.audit.record(
            username=self.username,
            action="voice_command",
            resource=f"voice:command/{match.command.name}",
            outcome="recognised" if match.action == "run" else "needs_confirmation",
            request_id=self.request_id,
            details={k: data[k] for k in ("action", "reason", "confidence", "transcript")},
        )


class TranscribeHandler(VoiceHandler):
    operations = {
        "post": Operation(
            "Transcribe a recording and map it to a command.",
            response=TranscriptionReply,
            rate_class="voice",
            description=TRANSCRIBE_DOC,
        )
    }

    def upload(self) -> tuple[bytes, str]:
        """(bytes, media type) from a multipart field ``audio`` or the raw body."""
        limit = self.nexus.transcriber.max_audio_bytes
        body = self.request.body or b""
        if len(body) > limit:
            raise NexusError(
                413,
                "payload_too_large",
                f"The upload is {format_size(len(body))}; "
                f"NEXUS accepts recordings up to {format_size(limit)}.",
            )
        if media_type(self.request.headers.get("Content-Type")) == "multipart/form-data":
            files = self.request.files.get("audio") or next(iter(self.request.files.values()), None)
            if not files:
                raise NexusError(400, "missing_audio", "The form has no file field named 'audio'.")
            part = files[0]
            kind = media_type(part.content_type) or "application/octet-stream"
            check_media_type(kind)
            return part.body, kind
        check_media_type(self.request.headers.get("Content-Type"))
        return body, media_type(self.request.headers.get("Content-Type"))

    @web.authenticated
    @authorized
    async def post(self) -> None:
        started = time.perf_counter()
        data, _kind = self.upload()
        transcriber = self.nexus.transcriber
        audio = await asyncio.to_thread(decode, data, max_seconds=transcriber.max_audio_seconds)
        decoded = time.perf_counter()
        with_commands = self.get_query_argument("commands", "true").lower() not in ("false", "0", "no")
        profile = await self.nexus.voice_profiles.get(await self.user_id())
        prompt = " ".join(
            p
            for p in (
                (self.nexus.voice_mapper.prompt_vocabulary() if with_commands else ""),
                profile.prompt(),
            )
            if p
        )
        try:
            transcript = await transcriber.transcribe(
                audio.samples,
                initial_prompt=prompt,
                hotwords=profile.hotword_text(),
                language=profile.language,
            )
        except TranscriberUnavailable as exc:
            raise NexusError(503, "voice_unavailable", str(exc)) from None
        transcribed = time.perf_counter()
        decision = None
        if with_commands:
            match = await self.nexus.voice_mapper.match(transcript)
            await self.announce(match, transcript.text)
            decision = decision_out(match)
        timings = {
            "decode_ms": round((decoded - started) * 1000, 2),
            **transcript.timings_ms,
            "map_ms": round((time.perf_counter() - transcribed) * 1000, 2),
            "total_ms": round((time.perf_counter() - started) * 1000, 2),
        }
        self.write_model(
            TranscriptionReply(
                text=transcript.text,
                segments=[TranscriptSegment(**vars(s)) for s in transcript.segments],
                language=transcript.language,
                language_probability=transcript.language_probability,
                duration_s=round(audio.duration_s, 3),
                no_speech_prob=transcript.no_speech_prob,
                timings_ms=timings,
                model=transcriber.model,
                command=decision,
            )
        )


class InterpretHandler(VoiceHandler):
    operations = {
        "post": Operation(
            "Map a transcript from any recogniser (e.g. the browser's) to a command.",
            request=VoiceInterpretRequest,
            response=VoiceDecision,
            max_body_bytes=8 * 1024,
            rate_class="voice",
            cost=0.1,  # text only: cheap next to a recording
        )
    }

    @web.authenticated
    @authorized
    async def post(self) -> None:
        body = self.read_model(VoiceInterpretRequest)
        match = await asyncio.to_thread(self.nexus.voice_mapper.match_text, body.text)
        await self.announce(match, body.text)
        self.write_model(decision_out(match))


class ProfileHandler(VoiceHandler):
    operations = {
        "get": Operation("The caller's voice profile (vocabulary and hot-words).", response=VoiceProfileOut),
        "put": Operation(
            "Replace the caller's voice profile.",
            request=VoiceProfileIn,
            response=VoiceProfileOut,
            max_body_bytes=32 * 1024,
        ),
    }

    @web.authenticated
    @authorized
    async def get(self) -> None:
        profile = await self.nexus.voice_profiles.get(await self.user_id())
        self.write_model(VoiceProfileOut.model_validate(vars(profile)))

    @web.authenticated
    @authorized
    async def put(self) -> None:
        body = self.read_model(VoiceProfileIn)
        profile = await self.nexus.voice_profiles.put(
            await self.user_id(),
            list(dict.fromkeys(body.vocabulary)),
            list(dict.fromkeys(body.hotwords)),
            body.language,
        )
        self.write_model(VoiceProfileOut.model_validate(vars(profile)))


default_handlers = [
    (r"/nexus/api/v1/voice/transcribe", TranscribeHandler),
    (r"/nexus/api/v1/voice/interpret", InterpretHandler),
    (r"/nexus/api/v1/voice/profile", ProfileHandler),
]
