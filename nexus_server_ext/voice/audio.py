"""Turning what a browser uploads into 16 kHz mono samples, within limits, or a clear refusal.

Browsers record WebM/Opus (Chrome, Firefox) or Ogg/Opus or MP4/AAC (Safari);
people also upload WAV and MP3. PyAV (FFmpeg, a faster-whisper dependency)
decodes them all. Decoding stops as soon as the audio passes the duration
limit, so a 20-minute upload costs a fraction of a second before its 413,
and WebM from MediaRecorder, whose header has no duration, is measured by
what it actually contains.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import NexusError, format_size

if TYPE_CHECKING:
    import numpy as np

SAMPLE_RATE = 16000

# Content types accepted on the raw-body form of the upload (parameters such as ``;codecs=opus`` ignored).
AUDIO_TYPES = frozenset(
    {
        "audio/webm",
        "video/webm",  # some browsers label audio-only MediaRecorder output this way
        "audio/ogg",
        "audio/opus",
        "audio/wav",
        "audio/wave",
        "audio/x-wav",
        "audio/vnd.wave",
        "audio/mpeg",
        "audio/mp3",
        "audio/mp4",
        "audio/x-m4a",
        "audio/aac",
        "audio/flac",
        "audio/x-flac",
        "application/octet-stream",
    }
)


@dataclass(frozen=True)
class DecodedAudio:
    samples: np.ndarray  # float32, mono, 16 kHz, in [-1, 1]
    duration_s: float
    container: str


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def check_media_type(content_type: str | None) -> None:
    kind = media_type(content_type)
    if kind not in AUDIO_TYPES:
        shown = kind or "none"
        raise NexusError(
            415,
            "unsupported_media_type",
            f"Content-Type {shown} is not audio. Send WebM/Opus, Ogg, WAV or MP3 "
            "(as the raw body with its audio/* type, or as a multipart file field named 'audio').",
        )


def decode(data: bytes, *, max_seconds: float) -> DecodedAudio:
    """Decode to 16 kHz mono float32; 400 if not decodable audio, 413 if longer than ``max_seconds``.

    Blocking (FFmpeg): call it from a worker thread.
    """
    import av
    import numpy as np

    if not data:
        raise NexusError(400, "empty_audio", "The upload is empty: record some audio and send it again.")
    limit = int(max_seconds * SAMPLE_RATE)
    chunks: list[np.ndarray] = []
    total = 0
    try:
        with av.open(io.BytesIO(data), mode="r", metadata_errors="ignore") as container:
            if not container.streams.audio:
                raise NexusError(400, "invalid_audio", "The file has no audio track.")
            declared = container.duration  # microseconds, or None (MediaRecorder WebM)
            if declared is not None and declared / 1_000_000 > max_seconds + 1:
                raise too_long(declared / 1_000_000, max_seconds)
            resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
            for frame in container.decode(audio=0):
                for out in resampler.resample(frame):
                    array = out.to_ndarray().reshape(-1)
                    chunks.append(array)
                    total += array.shape[0]
                if total > limit:
                    raise too_long(total / SAMPLE_RATE, max_seconds, at_least=True)
            for out in resampler.resample(None):
                array = out.to_ndarray().reshape(-1)
                chunks.append(array)
                total += array.shape[0]
            container_name = container.format.name
    except NexusError:
        raise
    except (av.FFmpegError, ValueError, IndexError, EOFError, OSError):
        raise NexusError(
            400,
            "invalid_audio",
            f"The upload ({format_size(len(data))}) is not audio NEXUS can decode: "
            "send WebM/Opus, Ogg, WAV or MP3.",
        ) from None
    if total == 0:
        raise NexusError(400, "invalid_audio", "The file contains no audio samples.")
    if total > limit:
        raise too_long(total / SAMPLE_RATE, max_seconds)
    samples = np.concatenate(chunks).astype(np.float32) / 32768.0
    return DecodedAudio(samples=samples, duration_s=total / SAMPLE_RATE, container=container_name)


def too_long(seconds: float, max_seconds: float, *, at_least: bool = False) -> NexusError:
    shown = f"more than {max_seconds:.0f}" if at_least else f"{seconds:.0f}"
    return NexusError(
        413,
        "audio_too_long",
        f"The recording is {shown} seconds long; NEXUS transcribes at most {max_seconds:.0f} seconds "
        "at a time. Record a shorter clip.",
    )
