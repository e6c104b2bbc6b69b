"""One supervised ``llama-server`` process: started on first use, watched, restarted with backoff.

Its own module beside ``llama_server.py`` (the settings, which models it serves, the status line):
this is the life of one process, from a free loopback port and ``/health`` to a crash and the next
start. It satisfies the engine's ``Upstream`` (``ai/engines/llama_server.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import secrets
import signal
import socket
import sys
import time
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .llama_server import LlamaServer

log = logging.getLogger(__name__)

FIRST_START_TRIES = 3  # a server that never became ready this often is given up (in-process instead)
STABLE_S = 60.0  # up this long: the next crash restarts after the shortest backoff again


def _die_with_parent() -> Any:
    """A ``preexec_fn`` that has the kernel stop llama-server when the gateway dies (even by SIGKILL)."""
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # resolved here: the child only calls it
    return lambda: prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


def usable_cores() -> int:
    """The CPUs this process may use: its affinity, capped by a cgroup v2 CPU quota (a container's
    CPU limit, which the affinity does not show)."""
    cores = len(os.sched_getaffinity(0))
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            cores = min(cores, max(1, int(quota) // int(period)))
    except (OSError, ValueError):
        pass
    return cores


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LlamaServerProcess:
    """One supervised llama-server for one GGUF file: started once on first use, restarted when it
    dies. Satisfies the engine's ``Upstream``."""

    def __init__(self, settings: LlamaServer, binary: str, model: Path) -> None:
        self.settings, self.binary, self.model = settings, binary, model
        self.parallel = settings.parallel
        self.threads = settings.threads or max(1, usable_cores() // 2)
        self.threads_batch = settings.threads_batch or self.threads
        self.state = "not started"
        self.starts = 0
        self.restarts = 0
        self.start_seconds: float | None = None
        self.error: str | None = None
        self.pid: int | None = None
        self._key = secrets.token_urlsafe(24)
        self._url = ""
        self._tail: deque[str] = deque(maxlen=30)
        self._backoff = settings.initial_backoff_s
        self._restart_at = 0.0
        self._first: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None

    @property
    def serving(self) -> bool:
        return self.state != "failed"

    def endpoint(self) -> tuple[str, str] | None:
        return (self._url, self._key) if self.state == "ready" else None

    def retry_after(self) -> float:
        starting = self.start_seconds or 2.0
        if self.state == "restarting":
            return max(0.0, self._restart_at - time.monotonic()) + starting
        return (self._backoff if self.state == "ready" else 0.0) + starting

    def unavailable(self) -> str:
        if self.state == "restarting":
            return f"llama-server is restarting ({self.error}); retry shortly"
        return f"llama-server is {self.state}"

    async def start(self) -> None:
        if self._task is None:
            self._first = asyncio.get_running_loop().create_future()
            self._task = asyncio.create_task(self._supervise(), name="nexus-llama-server")
        if self._first is not None and not self._first.done():
            await asyncio.shield(self._first)

    async def _supervise(self) -> None:
        tries = 0
        while True:
            if await self._launch():
                up_since = time.monotonic()
                self._ready_once()
                assert self._proc is not None
                code = await self._proc.wait()
                how = f"signal {-code}" if code < 0 else f"exit code {code}"
                self.state, self.error, self.pid = "restarting", f"it stopped with {how}", None
                self.restarts += 1
                if time.monotonic() - up_since > STABLE_S:
                    self._backoff = self.settings.initial_backoff_s
                log.warning(
                    "NEXUS llama-server (pid %s) stopped with %s; restarting in %.0f s. Last output:\n%s",
                    self._proc.pid,
                    how,
                    self._backoff,
                    "\n".join(self._tail),
                )
            elif self.starts == 0:
                tries += 1
                if tries >= FIRST_START_TRIES:
                    self.state = "failed"
                    log.error(
                        "NEXUS: llama-server failed to start (%s) — serving in-process, one sequence at "
                        "a time. Last output:\n%s",
                        self.error,
                        "\n".join(self._tail),
                    )
                    self._ready_once()
                    return
            self._restart_at = time.monotonic() + self._backoff
            await asyncio.sleep(self._backoff)
            self._backoff = min(self._backoff * 2, self.settings.max_backoff_s)

    def _ready_once(self) -> None:
        if self._first is not None and not self._first.done():
            self._first.set_result(None)

    def argv(self, port: int) -> list[str]:
        s = self.settings
        return [
            self.binary,
            *("--model", str(self.model), "--host", "127.0.0.1", "--port", str(port)),
            *("--parallel", str(self.parallel), "--cont-batching"),
            *("--ctx-size", str(self.parallel * s.ctx_per_slot), "--no-kv-unified"),
            *("--threads", str(self.threads), "--threads-batch", str(self.threads_batch)),
            *("--no-webui", "--jinja"),
            *s.extra_args,
        ]

    async def _launch(self) -> bool:
        """Start the process and wait for ``/health``: True once ready (``error`` says why not)."""
        import httpx

        self.state = "restarting" if self.starts else "starting"
        port, started = _free_port(), time.perf_counter()
        env = {**os.environ, "LLAMA_API_KEY": self._key}
        try:
            proc = await asyncio.create_subprocess_exec(
                *self.argv(port),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                env=env,
                preexec_fn=_die_with_parent(),
            )
        except OSError as exc:
            self.error = f"cannot run {Path(self.binary).name}: {exc.strerror or exc}"
            return False
        self._proc, self.pid = proc, proc.pid
        self._reader = asyncio.create_task(self._drain(proc))
        exited = asyncio.ensure_future(proc.wait())
        deadline = time.monotonic() + self.settings.startup_timeout_s
        url = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(trust_env=False, timeout=2.0) as client:
            while True:
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(url + "/health")).status_code == 200:
                        break
                if exited.done():
                    last = self._tail[-1] if self._tail else "no output"
                    self.error = f"it exited with code {proc.returncode} at start-up: {last}"
                    return False
                if time.monotonic() > deadline:
                    self.error = f"not ready after {self.settings.startup_timeout_s:g} s"
                    await self._stop(proc)
                    return False
                await asyncio.wait({exited}, timeout=0.1)
        exited.cancel()
        self._url, self.state, self.error = url, "ready", None
        self.starts += 1
        self.start_seconds = round(time.perf_counter() - started, 2)
        log.info(
            "NEXUS llama-server ready in %.2f s (pid %s): %s, %d parallel slots x %d tokens, %d/%d threads",
            self.start_seconds,
            proc.pid,
            self.model.name,
            self.parallel,
            self.settings.ctx_per_slot,
            self.threads,
            self.threads_batch,
        )
        return True

    async def _drain(self, proc: asyncio.subprocess.Process) -> None:
        """Read its output (a full pipe would stall it); keep the last lines for error messages."""
        assert proc.stdout is not None
        async for raw in proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip()
            if line:
                self._tail.append(line)
                log.debug("llama-server: %s", line)

    async def _stop(self, proc: asyncio.subprocess.Process) -> None:
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 5)
            except asyncio.TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._proc is not None:
            await self._stop(self._proc)
        self.state, self.pid = "stopped", None
        self._ready_once()

    def describe(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "pid": self.pid,
            "model": self.model.name,
            "parallel": self.parallel,
            "ctx_per_slot": self.settings.ctx_per_slot,
            "threads": self.threads,
            "threads_batch": self.threads_batch,
            "starts": self.starts,
            "restarts": self.restarts,
            "start_seconds": self.start_seconds,
            "error": self.error,
        }
