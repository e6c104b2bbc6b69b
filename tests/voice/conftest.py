"""Voice test fixtures: spoken audio made the way a user's browser would send it, and an upload helper.

espeak-ng speaks (several voices, speeds and pitches), sox resamples to 16 kHz
and pads with room silence, ffmpeg encodes WebM/Opus like MediaRecorder. sox runs with
``-R``: its dither (and its noise) would otherwise be random, and Whisper's transcript of a short
clip can change with the last bit of every sample, so every run would hear different words.
Clips are cached per test session.
"""

from __future__ import annotations

import shutil
import subprocess
import wave
from pathlib import Path
from typing import Any

import numpy as np
import pytest

TOOLS = ("espeak-ng", "sox", "ffmpeg")

# (voice, words per minute, pitch): American, British, RP, Caribbean; male and female variants.
VOICES = (
    ("en-us", 150, 50),
    ("en-gb", 150, 50),
    ("en-us+m3", 140, 40),
    ("en-gb-x-rp", 140, 45),
    ("en-029", 140, 50),
    ("en-us+f2", 160, 60),
    ("en-us", 170, 35),
    ("en-gb", 135, 65),
)


def require_tools() -> None:
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        pytest.fail(f"voice tests need {', '.join(missing)}: apt-get install -y espeak-ng sox ffmpeg")


def run(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True)


class AudioFactory:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._count = 0
        self._spoken: dict[tuple[str, tuple[str, int, int]], bytes] = {}

    @staticmethod
    def voice(i: int) -> tuple[str, int, int]:
        """The i-th test voice, cycling: consecutive clips sound different."""
        return VOICES[i % len(VOICES)]

    def _path(self, suffix: str) -> Path:
        self._count += 1
        return self.root / f"clip{self._count}{suffix}"

    def to_webm(self, wav: Path, bitrate: str = "32k") -> Path:
        out = wav.with_suffix(".webm")
        run(
            "ffmpeg", "-loglevel", "error", "-y", "-i", str(wav), "-c:a", "libopus", "-b:a", bitrate, str(out)
        )
        return out

    def speech_wav(self, text: str, voice: tuple[str, int, int] = VOICES[0]) -> Path:
        raw, wav = self._path(".raw.wav"), self._path(".wav")
        name, speed, pitch = voice
        run("espeak-ng", "-v", name, "-s", str(speed), "-p", str(pitch), "-w", str(raw), text)
        run("sox", "-q", "-R", str(raw), "-r", "16000", "-c", "1", str(wav), "pad", "0.3", "0.4")
        return wav

    def speech(self, text: str, voice: tuple[str, int, int] = VOICES[0]) -> bytes:
        key = (text, voice)
        if key not in self._spoken:
            self._spoken[key] = self.to_webm(self.speech_wav(text, voice)).read_bytes()
        return self._spoken[key]

    def silence(self, seconds: float = 3.0) -> bytes:
        wav = self._path(".wav")
        run("sox", "-q", "-n", "-r", "16000", "-c", "1", str(wav), "trim", "0", str(seconds))
        return self.to_webm(wav).read_bytes()

    def noise(self, seconds: float, colour: str, volume: str) -> Path:
        """``seconds`` of sox's ``colour`` noise (whitenoise, pinknoise) at ``volume``, as 16 kHz WAV."""
        wav = self._path(".wav")
        run(
            "sox",
            "-q",
            "-R",
            "-n",
            "-r",
            "16000",
            "-c",
            "1",
            str(wav),
            "synth",
            str(seconds),
            colour,
            "vol",
            volume,
        )
        return wav

    def white_noise(self, seconds: float = 3.0) -> bytes:
        return self.to_webm(self.noise(seconds, "whitenoise", "0.5")).read_bytes()

    def tones(self) -> bytes:
        """A plucked melody with harmonics: music-like, not speech."""
        rate, note = 16000, 0.3
        t = np.arange(int(note * rate)) / rate
        notes = [262, 330, 392, 523, 392, 330, 262, 294, 349, 440]
        signal = np.concatenate(
            [(np.sin(2 * np.pi * f * t) + 0.5 * np.sin(4 * np.pi * f * t)) * np.exp(-3 * t) for f in notes]
        )
        pcm = (0.4 * signal / np.abs(signal).max() * 32767).astype(np.int16)
        wav = self._path(".wav")
        with wave.open(str(wav), "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(rate)
            out.writeframes(pcm.tobytes())
        return self.to_webm(wav).read_bytes()

    def long_recording(self, seconds: int) -> bytes:
        """Quiet noise for ``seconds``, as low-bitrate Opus (a 20-minute file is about 2 MB)."""
        return self.to_webm(self.noise(seconds, "pinknoise", "0.05"), bitrate="12k").read_bytes()


@pytest.fixture(scope="session")
def audio(tmp_path_factory: pytest.TempPathFactory) -> AudioFactory:
    require_tools()
    return AudioFactory(tmp_path_factory.mktemp("voice-audio"))


@pytest.fixture
def transcribe(jp_fetch: Any) -> Any:
    async def post(data: bytes, content_type: str = "audio/webm;codecs=opus", **params: str) -> Any:
        return await jp_fetch(
            "nexus/api/v1/voice/transcribe",
            method="POST",
            body=data,
            headers={"Content-Type": content_type},
            params=params,
            raise_error=False,
            # the first upload loads Whisper and MiniLM; on a busy shared CPU that can pass 20 s
            request_timeout=300,
        )

    return post
