"""``LlamaServer``: the model gateway's llama.cpp server, several users' answers decoded at once.

Set on the gateway's command line (``--LlamaServer.parallel=4``) or in the file given to its
``--config`` (``c.LlamaServer.parallel = 4``). On a CPU node the in-process engine answers one
sequence at a time; llama.cpp's own server decodes several together.

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
import logging
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from traitlets import Bool, Float, Int, List, Unicode
from traitlets.config import LoggingConfigurable

from ..ai.engines.llama_server import LlamaServerEngine
from .llama_process import LlamaServerProcess

log = logging.getLogger(__name__)

MISSING = (
    "llama-server not found — serving in-process, one sequence at a time; "
    "run `make install` (or `make llama-server`) for parallel slots"
)


class LlamaServer(LoggingConfigurable):
    """The gateway's llama-server settings, and the processes it supervises (see the module docstring)."""

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
        help="Slots: sequences llama-server decodes together (continuous batching); more requests wait "
        "in the gateway, served fairly across users. Measured on 2 cores (bundled model, 1 thread): 4 "
        "slots let 4 users' answers start at once (first words in 0.1-0.3 s, against 2.7 s queued "
        "in-process); 8 slots add nothing there but their context's memory.",
    ).tag(config=True)

    ctx_per_slot = Int(4096, help="Context (prompt + answer tokens) of each slot.").tag(config=True)

    threads = Int(
        0,
        help="CPU threads that decode. 0: half the cores this process may use (its affinity, capped by "
        "a container's CPU quota), at least 1, leaving the rest to the node's kernels and servers: "
        "threads that outnumber the free cores spin at llama.cpp's barriers and slow decoding many "
        "times over (measured on 2 cores, 4 users: 2 threads give 114 tokens/s on an idle machine but "
        "39 while a busy kernel holds a core; 1 thread gives 77-80 either way).",
    ).tag(config=True)

    threads_batch = Int(
        0,
        help="CPU threads for prompts and for several users' tokens decoded together. 0: the same as "
        "threads. On a node (or pod) whose cores the gateway has to itself, set both to every core.",
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
