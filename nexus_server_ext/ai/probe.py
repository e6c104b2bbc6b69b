"""``ProviderProbes``: an active health probe of each remote model provider, on a schedule.

The circuit breaker learns that a provider is gone from a user's request that
failed, and a server that stops answering costs that user a connection timeout.
When ``c.ModelRouter.probe_interval_s`` (or a provider's own ``probe_interval_s``
in the routing file) is above 0, each remote provider gets a cheap request that
spends no tokens (``Provider.probe``: ``GET /models``) that often. A probe that
gets no answer marks the provider down in its breaker (``ProviderHealth``), so
the router skips it before anyone waits for it; the next successful probe brings
it back. ``/status`` lists each probed provider as a component: ``probe: ok 12 s
ago`` or ``down: connection refused``.

The settings live on ``ModelRouter`` and in the routing file because the probe
feeds the router's breakers, whose settings are there too. The probes run as
one asyncio task started with the server extension and cancelled at shutdown;
every request is httpx's async client, so nothing blocks the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..api_models import ComponentStatus
from .providers import Provider
from .providers.sse import ProbeFailed

if TYPE_CHECKING:
    from ..components import ComponentRegistry
    from .router import ModelRouter

log = logging.getLogger(__name__)

IDLE_S = 5.0  # how often a running loop with nothing to probe looks again (the routing file may change)


def probes(provider: Provider) -> bool:
    """Whether ``provider``'s kind has a probe (remote kinds); the local model has nothing to probe."""
    return type(provider).probe is not Provider.probe


def component_name(provider: str) -> str:
    return f"provider_{provider}"


def _ago(seconds: float) -> str:
    if seconds < 90:
        return f"{round(seconds)} s ago"
    if seconds < 5400:
        return f"{round(seconds / 60)} min ago"
    return f"{round(seconds / 3600)} h ago"


class ProviderProbes:
    """Probe the router's remote providers, each at its own interval, and report them in ``/status``."""

    def __init__(
        self,
        router: ModelRouter,
        components: ComponentRegistry | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.router = router
        self.components = components
        self._clock = clock
        self._due: dict[str, float] = {}  # provider -> when its next probe is due
        self._running: dict[str, asyncio.Task[bool]] = {}
        self._task: asyncio.Task[None] | None = None

    def targets(self) -> dict[str, float]:
        """Provider name -> probe interval, for each remote provider with a base URL and an interval."""
        out = {}
        for name, provider in self.router.providers.items():
            spec = self.router.routing.providers.get(name) or {}
            interval = float(spec.get("probe_interval_s", self.router.probe_interval_s) or 0)
            if interval > 0 and spec.get("base_url") and probes(provider):
                out[name] = interval
        return out

    # -- running --------------------------------------------------------------------------------------
    def start(self) -> bool:
        """Start probing on the running loop; False (and nothing runs) when no provider is probed."""
        if self._task is not None or not self.targets():
            return False
        for name in self.targets():
            self._register(name)
        self._task = asyncio.ensure_future(self._run())
        return True

    async def stop(self) -> None:
        tasks = [t for t in (self._task, *self._running.values()) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._task = None
        self._running.clear()

    async def _run(self) -> None:
        while True:
            targets = self.targets()
            now = self._clock()
            for name, interval in targets.items():
                if now >= self._due.get(name, 0.0) and name not in self._running:
                    self._due[name] = now + interval
                    task = asyncio.ensure_future(self.probe(name))
                    self._running[name] = task
                    task.add_done_callback(self._finished(name))
            waits = [self._due[n] - now for n in targets]
            await asyncio.sleep(min(max(0.05, min(waits)), IDLE_S) if waits else IDLE_S)

    def _finished(self, name: str) -> Callable[[asyncio.Task[bool]], None]:
        def forget(_task: asyncio.Task[bool]) -> None:
            self._running.pop(name, None)

        return forget

    # -- one probe --------------------------------------------------------------------------------------
    async def probe(self, name: str) -> bool:
        """Probe ``name`` once and record the verdict in its breaker; True when it answered."""
        router = self.router
        provider, health = router.providers.get(name), router.health.get(name)
        if provider is None or health is None:
            return False
        self._register(name)
        spec = router.routing.providers.get(name) or {}
        # the routing file's key, else a server-wide one stored through the secrets API; without any,
        # a refused request still proves the server answers
        key = (await router.keys_for("")).get(name) or str(spec.get("api_key") or "") or None
        timeout = router.probe_timeout_s
        try:
            detail = await asyncio.wait_for(provider.probe(key, timeout), timeout + 1)
            ok = True
        except ProbeFailed as exc:
            detail, ok = str(exc), False
        except asyncio.TimeoutError:
            detail, ok = f"no answer in {timeout:g} s", False
        except Exception as exc:  # a broken probe says so; the loop goes on
            detail, ok = f"probe failed ({type(exc).__name__})", False
        if health.record_probe(ok, detail):
            if ok:
                log.info("NEXUS: model provider %s answers again; it is used again", name)
            else:
                log.warning(
                    "NEXUS: model provider %s is down (%s); it is skipped until it answers", name, detail
                )
        return ok

    # -- /status --------------------------------------------------------------------------------------
    def _register(self, name: str) -> None:
        if self.components is not None:
            self.components.register(component_name(name), lambda: self.status(name))

    def status(self, name: str) -> ComponentStatus:
        """``probe: ok 12 s ago`` / ``down: connection refused (probed 3 s ago)``."""
        health = self.router.health.get(name)
        probe = health.snapshot().probe if health is not None else None
        component = component_name(name)
        if probe is None:
            return ComponentStatus(name=component, state="ok", detail="probe: not probed yet")
        if probe.ok:
            note = "" if probe.detail.startswith("HTTP 2") else f" ({probe.detail})"  # e.g. a refused key
            return ComponentStatus(name=component, state="ok", detail=f"probe: ok {_ago(probe.age_s)}{note}")
        return ComponentStatus(
            name=component,
            state="degraded",
            detail=f"down: {probe.detail} (probed {_ago(probe.age_s)}); skipped until a probe succeeds",
        )
