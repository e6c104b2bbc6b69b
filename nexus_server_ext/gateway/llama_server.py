"""``LlamaServer``: the gateway runs llama.cpp's own server for its GGUF models, so a CPU node
answers several users at once instead of one sequence at a time.

For each GGUF model the gateway's routing file serves on the CPU (the bundled one, a pulled one),
the gateway starts ``llama-server`` as a child process bound to 127.0.0.1 on a free port, with
``parallel`` slots decoded together (continuous batching), ``ctx_per_slot`` tokens of context each,
and a random API key passed through the environment (not the command line, which every local user
can read), so user servers on the same machine cannot bypass the gateway's auth and quotas. The
gateway waits for its ``/health``, then streams requests to it (``ai/engines/llama_server.py``); the
gateway stays the layer in front: auth, quotas, the usage ledger (from llama-server's token counts),
NEXUS's model names, and embeddings from NEXUS's own embedder.

If the process dies, the requests it was answering get 503 with ``Retry-After``, new ones get the
same while the supervisor restarts it (1 s backoff, doubling up to ``max_backoff_s``, reset once a
server has stayed up for a minute). If the binary is missing, or the server cannot start at all, the
gateway serves in-process, one sequence at a time, and says why in ``/v1/status`` and its log.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import secrets
import shutil
import signal
import socket
import sys
import time
from collections import deque
from pathlib import Path
from typing import Any

from traitlets import Bool, Float, Int, List, Unicode
from traitlets.config import LoggingConfigurable

from ..ai.engines.llama_server import LlamaServerEngine

log = logging.getLogger(__name__)

MAKE_TARGET = "make install` (or `make llama-server`"
MISSING = (
    "llama-server not found — serving in-process, one sequence at a time; "
    f"run `{MAKE_TARGET}) for parallel slots"
)
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
        cores = usable_cores()
        self.threads = settings.threads or max(1, cores // 2)
        self.threads_batch = settings.threads_batch or cores
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


class LlamaServer(LoggingConfigurable):
    """Settings of the gateway's llama-server (``--LlamaServer.<name>=...`` on the gateway's command
    line, or ``c.LlamaServer.<name>`` in the file given to ``--config``)."""

    enabled = Bool(
        True,
        help="Serve the gateway's GGUF models (on the CPU) through llama.cpp's own server, several "
        "sequences at once, when its binary is found; False: the in-process engine, one at a time.",
    ).tag(config=True)

    binary = Unicode(
        "",
        help="The llama-server executable. Empty: llama-server next to this Python (the virtual "
        "environment's bin/, where `make install` puts it), else the first on PATH.",
    ).tag(config=True)

    parallel = Int(
        4,
        help="Slots: sequences llama-server decodes together (continuous batching). Measured on 2 CPU "
        "cores with the bundled model: 4 users get 2x one user's aggregate tokens/s with 4 slots.",
    ).tag(config=True)

    ctx_per_slot = Int(4096, help="Context (prompt + answer tokens) of each slot.").tag(config=True)

    threads = Int(
        0,
        help="CPU threads that decode one sequence. 0: half the cores this process may use (its "
        "affinity, capped by a container's CPU quota), at least 1: one sequence gains little from more, "
        "and threads that outnumber the free cores (a busy kernel on the node) slow decoding several "
        "times over.",
    ).tag(config=True)

    threads_batch = Int(
        0,
        help="CPU threads for prompts and for several users' tokens decoded together. 0: every core "
        "this process may use. Measured on 2 cores: 4 users get 130 tok/s with 2, 80 with 1; but while "
        "a kernel keeps one core busy, 2 threads drop to 35 tok/s: on nodes whose kernels keep the "
        "CPUs busy, set it to threads.",
    ).tag(config=True)

    startup_timeout_s = Float(60.0, help="Seconds llama-server may take to answer /health.").tag(config=True)

    initial_backoff_s = Float(1.0, help="Seconds before restarting a llama-server that died.").tag(
        config=True
    )

    max_backoff_s = Float(
        30.0, help="The restart delay doubles after each crash in a row, up to this many seconds."
    ).tag(config=True)

    extra_args = List(Unicode(), help="More llama-server command-line arguments.").tag(config=True)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.processes: dict[Path, LlamaServerProcess] = {}
        self.engines: dict[int, LlamaServerEngine] = {}  # id(in-process engine) -> its replacement
        self._adopted: list[tuple[Any, Any]] = []  # (provider, its in-process engine), for aclose
        self._missing = False

    def find_binary(self) -> str | None:
        if self.binary:
            path = Path(self.binary).expanduser()
            return str(path) if path.is_file() and os.access(path, os.X_OK) else None
        for folder in (Path(sys.prefix) / "bin", Path(sys.executable).parent):
            beside = folder / "llama-server"
            if beside.is_file() and os.access(beside, os.X_OK):
                return str(beside)
        return shutil.which("llama-server")

    def adopt(self, router: Any) -> None:
        """Serve each local GGUF model of ``router`` (llama.cpp backend, CPU) through llama-server;
        without a binary, log why and leave the in-process engines in place."""
        from ..ai.engines.sources import ModelNotFound, resolve_source
        from ..ai.providers.local import LocalProvider

        locals_ = [
            p
            for p in router.providers.values()
            if isinstance(p, LocalProvider)
            and p.engine.backend == "llama_cpp"
            and p.engine.requested_device in ("auto", "cpu")
        ]
        if not locals_ or not self.enabled:
            log.info("NEXUS gateway: %s", self.status()["message"])
            return
        binary = self.find_binary()
        if binary is None:
            log.warning("NEXUS gateway: %s", MISSING)
            self._missing = True
            return
        for provider in locals_:
            engine = provider.engine
            if id(engine) not in self.engines:
                try:
                    directory, gguf = resolve_source(engine.source)
                except ModelNotFound as exc:
                    log.warning("NEXUS gateway: %s; the in-process engine will say so", exc)
                    continue
                model = Path(directory) / str(gguf)
                process = self.processes.get(model)
                if process is None:
                    process = self.processes[model] = LlamaServerProcess(self, binary, model)
                self.engines[id(engine)] = LlamaServerEngine(process, engine)
            self._adopted.append((provider, engine))
            provider.engine = self.engines[id(engine)]
        log.info("NEXUS gateway: %s", self.status()["message"])

    def status(self) -> dict[str, Any]:
        """The status line: how GGUF models are served, and why not through llama-server."""
        servers = [p.describe() for p in self.processes.values()]
        if not self.enabled:
            message = (
                "llama-server is turned off (LlamaServer.enabled = False) — serving in-process, one "
                "sequence at a time"
            )
        elif self._missing:
            message = MISSING
        elif not self.processes:
            message = "no GGUF model on the CPU in the routing file — nothing for llama-server to serve"
        elif failed := [p for p in self.processes.values() if p.state == "failed"]:
            message = (
                f"llama-server failed to start ({failed[0].error}) — serving in-process, one sequence "
                "at a time"
            )
        else:
            first = next(iter(self.processes.values()))
            message = (
                f"llama-server: {self.parallel} parallel slots x {self.ctx_per_slot} tokens, "
                f"{first.threads}/{first.threads_batch} threads; "
                + ", ".join(f"{s['model']} {s['state']}" for s in servers)
            )
        serving = any(p.serving for p in self.processes.values())
        return {"mode": "llama-server" if serving else "in-process", "message": message, "servers": servers}

    async def start(self) -> None:
        """Start every server now (the gateway's ``--preload``) instead of on first use."""
        await asyncio.gather(*(p.start() for p in self.processes.values()))

    async def aclose(self) -> None:
        for provider, engine in self._adopted:
            provider.engine = engine
        self._adopted.clear()
        for replacement in self.engines.values():
            await replacement.aclose()
        await asyncio.gather(*(p.stop() for p in self.processes.values()))
