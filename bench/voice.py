"""Voice benchmark: real-time factor through the endpoint vs faster-whisper called directly; accuracy.

Both paths get the same WebM/Opus files (espeak-ng speech, several voices) and the same decoding
options (beam size, VAD, the command-vocabulary prompt), in the same run, interleaved, so the
difference is what the endpoint adds: HTTP, auth, decoding limits, profile lookup, command mapping.

    python bench/voice.py                       # bundled tiny.en on CPU
    python bench/voice.py --device cuda --model /path/to/faster-whisper-large-v3 --reps 3

Prints one JSON object. Needs espeak-ng, sox and ffmpeg.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from nexus_server_ext.commands import builtin_registry  # noqa: E402
from nexus_server_ext.voice.mapper import VoiceCommandMapper  # noqa: E402
from nexus_server_ext.voice.transcriber import BUNDLED, Transcriber  # noqa: E402

VOICES = [("en-us", 150, 50), ("en-gb", 150, 50), ("en-us+m3", 140, 40), ("en-gb-x-rp", 140, 45),
          ("en-029", 140, 50), ("en-us+f2", 160, 60), ("en-us", 170, 35), ("en-gb", 135, 65)]  # fmt: skip
SPOKEN = [
    ("run this cell", "run-cell"), ("run the cell", "run-cell"), ("execute this cell", "run-cell"),
    ("run all cells", "run-all"), ("run everything", "run-all"), ("insert a cell above", "insert-cell-above"),
    ("add a cell above", "insert-cell-above"), ("insert a cell below", "insert-cell-below"),
    ("add a new cell below", "insert-cell-below"), ("delete this cell", "delete-cell"),
    ("remove this cell", "delete-cell"), ("undo", "undo"), ("undo that", "undo"),
    ("save the notebook", "save"),
    ("please save the notebook", "save"), ("create a new notebook", "new-notebook"),
    ("new notebook", "new-notebook"), ("open the chat", "open-chat"), ("show the chat", "open-chat"),
    ("restart the kernel", "restart-kernel"), ("interrupt the kernel", "interrupt-kernel"),
    ("stop the kernel", "interrupt-kernel"), ("explain this error", "explain-error"),
    ("what went wrong", "explain-error"), ("fix this", "fix"), ("fix the error", "fix"),
    ("generate code that sorts a list of numbers", "generate"),
    ("write code that reads a CSV file", "generate"),
    ("ask what is a data frame", "ask"), ("ask how do I plot a histogram", "ask"),
    ("nexus, run all cells", "run-all"),
]  # fmt: skip


def make_clips(folder: Path) -> list[tuple[Path, str, float]]:
    clips = []
    for i, (text, expected) in enumerate(SPOKEN):
        voice, speed, pitch = VOICES[i % len(VOICES)]
        raw, wav, webm = folder / f"{i}.raw.wav", folder / f"{i}.wav", folder / f"{i}.webm"
        subprocess.run(
            ["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "-w", raw, text], check=True
        )
        subprocess.run(["sox", "-q", raw, "-r", "16000", "-c", "1", wav, "pad", "0.3", "0.4"], check=True)
        encode = ["ffmpeg", "-loglevel", "error", "-y", "-i", wav, "-c:a", "libopus", "-b:a", "32k", webm]
        subprocess.run(encode, check=True)
        duration = os.path.getsize(wav) / 32000  # 16 kHz, 16-bit mono (header bytes are noise)
        clips.append((webm, expected, duration))
    return clips


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(data_dir: Path, args: argparse.Namespace) -> tuple[subprocess.Popen[bytes], str, str]:
    token, port = secrets.token_hex(16), free_port()
    cmd = [
        sys.executable, "-m", "jupyter_server", "--no-browser", "--allow-root", f"--port={port}",
        f"--ServerApp.token={token}", "--ServerApp.jpserver_extensions={'nexus_server_ext': True}",
        f"--NexusApp.data_dir={data_dir}", "--RateLimiter.per_minute=0",
        f"--Transcriber.model={args.model}", f"--Transcriber.device={args.device}",
        f"--Transcriber.beam_size={args.beam_size}", f"--ServerApp.root_dir={data_dir}",
    ]  # fmt: skip
    with open(data_dir / "server.log", "wb") as log:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log)
    url = f"http://127.0.0.1:{port}"
    for _ in range(120):
        try:
            if httpx.get(
                f"{url}/nexus/api/v1/status", headers={"Authorization": f"token {token}"}
            ).is_success:
                return proc, url, token
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    proc.terminate()
    raise SystemExit("the Jupyter server did not start; see server.log")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=BUNDLED, help="bundled:tiny.en, a model folder, or a name")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda", "auto"])
    parser.add_argument("--beam-size", type=int, default=5)
    parser.add_argument("--reps", type=int, default=2, help="passes over the clip set (after one warm-up)")
    args = parser.parse_args()
    for tool in ("espeak-ng", "sox", "ffmpeg"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is missing: apt-get install -y espeak-ng sox ffmpeg")

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        clips = make_clips(folder)
        transcriber = Transcriber(model=args.model, device=args.device, beam_size=args.beam_size)
        model = transcriber.load_sync()
        device, compute = transcriber.resolved_device()
        prompt = VoiceCommandMapper(registry=builtin_registry(), embedder=None).prompt_vocabulary()

        def direct(path: Path) -> float:
            started = time.perf_counter()
            segments, _ = model.transcribe(
                str(path), beam_size=args.beam_size, language="en", vad_filter=True,
                condition_on_previous_text=False, initial_prompt=prompt,
            )  # fmt: skip
            list(segments)
            return time.perf_counter() - started

        proc, url, token = start_server(folder, args)
        try:
            client = httpx.Client(headers={"Authorization": f"token {token}"}, timeout=120)

            def endpoint(path: Path) -> tuple[float, dict[str, object]]:
                body = path.read_bytes()
                started = time.perf_counter()
                r = client.post(f"{url}/nexus/api/v1/voice/transcribe", content=body,
                                headers={"Content-Type": "audio/webm;codecs=opus"})  # fmt: skip
                elapsed = time.perf_counter() - started
                r.raise_for_status()
                return elapsed, r.json()

            direct(clips[0][0]), endpoint(clips[0][0])  # warm-up: models loaded, caches filled
            t_direct: list[float] = []
            t_endpoint: list[float] = []
            audio_s = 0.0
            correct = 0
            misses = []
            for rep in range(args.reps):
                for i, (path, expected, duration) in enumerate(clips):
                    first_direct = (i + rep) % 2 == 0  # alternate the order: neither path always runs warm
                    if first_direct:
                        t_direct.append(direct(path))
                    elapsed, reply = endpoint(path)
                    t_endpoint.append(elapsed)
                    if not first_direct:
                        t_direct.append(direct(path))
                    audio_s += duration
                    if rep == 0:
                        decision = reply["command"] or {}
                        got = (
                            (decision.get("command") or {}).get("name")
                            if decision.get("action") != "none"
                            else None
                        )
                        correct += got == expected
                        if got != expected:
                            misses.append({"said": SPOKEN[i][0], "heard": reply["text"], "got": got})
        finally:
            proc.terminate()
            proc.wait(timeout=30)

    direct_total, endpoint_total = sum(t_direct), sum(t_endpoint)
    print(
        json.dumps(
            {
                "benchmark": "voice",
                "model": args.model,
                "device": device,
                "compute_type": compute,
                "beam_size": args.beam_size,
                "clips": len(clips),
                "reps": args.reps,
                "audio_seconds": round(audio_s, 1),
                "direct": {
                    "rtf": round(direct_total / audio_s, 4),
                    "median_ms": round(statistics.median(t_direct) * 1000, 1),
                },
                "endpoint": {
                    "rtf": round(endpoint_total / audio_s, 4),
                    "median_ms": round(statistics.median(t_endpoint) * 1000, 1),
                },
                "endpoint_overhead_pct": round((endpoint_total - direct_total) / direct_total * 100, 2),
                "goal_overhead_pct": 5.0,
                "command_accuracy": round(correct / len(clips), 4),
                "misses": misses,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
