"""``ModelPulls``: the model dashboard's pulls, each in a child process, and switching the running router.

A pull runs ``python -m nexus_server_ext.cli models pull NAME --json --no-use``
as a child process: the download never touches the server's event loop, its
progress arrives as JSON lines (read on a thread), and Cancel ends the child
(SIGTERM; the partial file stays, and the next pull of the model resumes from it).
Once the file is verified, ``use`` writes the user routing file and, when this
server follows that file (no routing file chosen by configuration), switches
the running model router to it at once (``switch_router``): the next request is
answered by the new model, while answers already streaming finish on the old
one (whose memory is freed at the next restart). Restarting the server gives the
same result, because ``NexusApp.routing_file`` defaults to the user routing file.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from traitlets import Unicode
from traitlets.config import LoggingConfigurable

from ..errors import NexusError
from .breaker import ProviderHealth
from .model_catalog import BUNDLED, BUNDLED_SOURCE, CATALOG, UnknownModel, find_model
from .model_pull import pulled_model
from .routing import RoutingConfig, load_routing
from .user_routing import manages_routing, use_bundled, write_user_routing

if TYPE_CHECKING:
    from ..registry import NexusServices
    from .router import ModelRouter

PullState = Literal["running", "verifying", "done", "failed", "cancelled"]
KEEP_FINISHED = 20


@dataclass
class Pull:
    id: str
    name: str
    use: bool
    state: PullState = "running"
    done_bytes: int = 0
    total_bytes: int = 0
    resumed_from_bytes: int = 0
    in_use: bool = False
    error: str | None = None
    note: str | None = None
    started: float = field(default_factory=time.time)
    process: subprocess.Popen[str] | None = field(default=None, repr=False)


def switch_router(router: ModelRouter, routing: RoutingConfig) -> list[Any]:
    """Point a running router at ``routing``: providers whose settings changed are rebuilt (with a fresh
    circuit breaker), the others keep theirs. Returns the replaced providers, for the caller to close."""
    from .providers import build_providers

    changed = {
        name: spec
        for name, spec in routing.providers.items()
        if name not in router.providers or spec != router.routing.providers.get(name)
    }
    fresh = build_providers(changed)
    providers = {name: fresh.get(name) or router.providers[name] for name in routing.providers}
    providers = {name: p for name, p in providers.items() if p is not None}
    health = {
        name: router.health[name]
        if name not in changed and name in router.health
        else ProviderHealth(
            int(routing.providers[name].get("failure_threshold") or router.failure_threshold),
            float(routing.providers[name].get("cooldown_s", router.cooldown_s)),
        )
        for name in providers
    }
    replaced = [p for name, p in router.providers.items() if providers.get(name) is not p]
    router.routing, router.providers, router.health = routing, providers, health
    return replaced


def local_source(routing: RoutingConfig | None) -> str:
    """The ``local`` provider's model in ``routing`` (the bundled one by default)."""
    specs = routing.providers.values() if routing is not None else ()
    return next((str(s.get("model") or BUNDLED_SOURCE) for s in specs if s.get("kind") == "local"), "")


class ModelPulls(LoggingConfigurable):
    """The dashboard's pulls (``/models/pulls``) and its Use button (``/models/active``)."""

    hub_endpoint = Unicode(
        "",
        help="The Hugging Face Hub (or a mirror of it) the model dashboard pulls from; empty means "
        "HF_ENDPOINT, else huggingface.co. `jupyter nexus models pull` reads HF_ENDPOINT.",
    ).tag(config=True)

    def __init__(self, data_dir: str, routing_file: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.data_dir = data_dir
        self.routing_file = routing_file
        self.switchable = manages_routing(data_dir, routing_file)
        self.pulls: dict[str, Pull] = {}

    @property
    def not_switchable_note(self) -> str | None:
        if self.switchable:
            return None
        return (
            f"This server's routing file ({Path(self.routing_file).name}) is chosen by configuration "
            "(NexusApp.routing_file or NEXUS_ROUTING_FILE), and NEXUS does not rewrite it: pulled models "
            "are downloaded, and an administrator points that file's local provider at them."
        )

    def active(self, routing: RoutingConfig | None) -> str:
        """The server's local model: a catalogue name, ``bundled`` or ``custom``."""
        source = local_source(routing)
        if source in ("", BUNDLED_SOURCE):
            return BUNDLED
        for model in CATALOG:
            pulled = pulled_model(self.data_dir, model.name)
            if pulled is not None and Path(source).expanduser() == pulled.path:
                return model.name
        return "custom"

    def recent(self) -> list[Pull]:
        return sorted(self.pulls.values(), key=lambda p: p.started, reverse=True)

    # -- pulling --------------------------------------------------------------------------------------
    def start(self, name: str, use: bool, services: NexusServices) -> Pull:
        """Start pulling ``name`` in a child process (or return the pull of it already running)."""
        try:
            model = find_model(name)
        except UnknownModel as exc:
            raise NexusError(404, "unknown_model", f"{str(exc)[0].upper()}{str(exc)[1:]}.") from None
        for pull in self.pulls.values():
            if pull.name == model.name and pull.state in ("running", "verifying"):
                return pull
        pull = Pull(id=uuid.uuid4().hex[:12], name=model.name, use=use)
        command = [sys.executable, "-m", "nexus_server_ext.cli", "--data-dir", self.data_dir]
        command += ["models", "pull", model.name, "--json", "--no-use"]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        if self.hub_endpoint:
            env["HF_ENDPOINT"] = self.hub_endpoint
        pull.process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        self.pulls[pull.id] = pull
        self._forget_old()
        loop = asyncio.get_running_loop()
        threading.Thread(
            target=self._follow, args=(pull, loop, services), name=f"nexus-pull-{pull.id}", daemon=True
        ).start()
        self.log.info("NEXUS: pulling %s (pull %s)", model.name, pull.id)
        return pull

    def _forget_old(self) -> None:
        finished = [p for p in self.recent() if p.state not in ("running", "verifying")]
        for pull in finished[KEEP_FINISHED:]:
            del self.pulls[pull.id]

    def _follow(self, pull: Pull, loop: asyncio.AbstractEventLoop, services: NexusServices) -> None:
        """On a thread: the child's JSON lines become the pull's progress; its end is handled on the loop."""
        process = pull.process
        assert process is not None and process.stdout is not None
        other: deque[str] = deque(maxlen=5)
        pulled = False
        for line in process.stdout:
            try:
                event = json.loads(line)
            except ValueError:
                event = None
            if not isinstance(event, dict):
                if line.strip():
                    other.append(line.strip())
                    self.log.debug("NEXUS pull %s: %s", pull.id, line.rstrip())
                continue
            kind = event.get("event")
            if kind in ("start", "download", "done"):
                pull.done_bytes, pull.total_bytes = int(event["done"]), int(event["total"])
                if kind == "start":
                    pull.resumed_from_bytes = pull.done_bytes
            elif kind == "verify":
                pull.state = "verifying" if pull.state == "running" else pull.state
            elif kind == "pulled":
                pulled = True
            elif kind == "error":
                pull.error = str(event.get("message") or "")
        code = process.wait()
        with contextlib.suppress(RuntimeError):  # the loop has closed: the server is stopping
            loop.call_soon_threadsafe(self._finished, pull, code, pulled, list(other), services)

    def _finished(
        self, pull: Pull, code: int, pulled: bool, other: list[str], services: NexusServices
    ) -> None:
        if pull.state == "cancelled":
            return
        if code != 0 or not pulled:
            pull.state = "failed"
            detail = pull.error or (other[-1] if other else f"the pull process ended with status {code}")
            pull.error = f"{detail[0].upper()}{detail[1:]}." if detail and detail[-1] != "." else detail
            self.log.warning("NEXUS: pulling %s failed: %s", pull.name, pull.error)
            return
        pull.state = "done"
        pull.done_bytes = pull.total_bytes
        if not pull.use:
            pull.note = "Pulled and verified. Press Use to switch to it."
        elif not self.switchable:
            pull.note = f"Pulled and verified, not switched. {self.not_switchable_note}"
        else:
            try:
                pull.note = self.use(pull.name, services)
                pull.in_use = True
            except NexusError as exc:
                pull.note = f"Pulled and verified, not switched: {exc.message}"
        self.log.info("NEXUS: pulled %s. %s", pull.name, pull.note)

    async def cancel(self, pull_id: str) -> Pull:
        """End a running pull's child process; its partial file stays for the next pull to resume."""
        pull = self.get(pull_id)
        process = pull.process
        if pull.state not in ("running", "verifying") or process is None:
            return pull
        pull.state = "cancelled"
        pull.note = "Cancelled. Pull again to resume where it stopped."
        process.terminate()
        try:
            await asyncio.to_thread(process.wait, 10)
        except subprocess.TimeoutExpired:
            process.kill()
            await asyncio.to_thread(process.wait)
        self.log.info("NEXUS: cancelled pulling %s", pull.name)
        return pull

    def get(self, pull_id: str) -> Pull:
        pull = self.pulls.get(pull_id)
        if pull is None:
            raise NexusError(
                404, "not_found", "There is no such pull on this server (it may have restarted)."
            )
        return pull

    async def aclose(self) -> None:
        """The server stops: running pulls end (the next pull resumes them)."""
        for pull in list(self.pulls.values()):
            await self.cancel(pull.id)

    # -- switching ------------------------------------------------------------------------------------
    def use(self, name: str, services: NexusServices) -> str:
        """Route chat, code generation and completion to ``name`` (a pulled model, or ``bundled``), in the
        user routing file and in the running router. Returns what changed, in words."""
        if not self.switchable:
            raise NexusError(409, "routing_chosen_by_configuration", self.not_switchable_note or "")
        if name == BUNDLED:
            use_bundled(self.data_dir)
            routing = load_routing(None)
        else:
            try:
                model = find_model(name)
            except UnknownModel as exc:
                raise NexusError(404, "unknown_model", f"{str(exc)[0].upper()}{str(exc)[1:]}.") from None
            pulled = pulled_model(self.data_dir, model.name)
            if pulled is None:
                raise NexusError(409, "not_pulled", f"{model.name} is not pulled yet: pull it first.")
            routing = load_routing(write_user_routing(self.data_dir, pulled))
        router = services.router
        if router is None:  # the routing file was invalid at start: nothing runs to switch
            return f"The routing now names {name}; restart the server to use it."
        for provider in switch_router(router, routing):
            services.background(asyncio.ensure_future(provider.aclose()))
        services.routing = routing
        services.embedder.use_routing(routing)
        if services.deferred_built and services.learning is not None:
            services.learning.routing = routing
        what = "the bundled model" if name == BUNDLED else name
        return f"Chat, code generation and completion now use {what}; it loads on the first request."
