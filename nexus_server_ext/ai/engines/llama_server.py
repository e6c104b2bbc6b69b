"""``llama-server`` behind the engine interface: a GGUF decoded by llama.cpp's own server, several
sequences at once (parallel slots, continuous batching), for the model gateway on CPU nodes.

The in-process llama.cpp engine decodes one sequence at a time, so on a CPU four users' answers
queue behind each other. llama.cpp's server puts every active sequence into one forward pass per
token, which costs little more than one sequence, so the aggregate speed grows with the users.
``gateway/llama_server.py`` starts and supervises the process; this engine streams from it over
loopback HTTP (httpx: nothing blocks the event loop) and keeps what the router and the gateway rely
on from every engine: the same stop and loop guards, a fair turn across users for the slots (one
user's burst cannot starve another user's question), a bounded queue (``EngineBusy`` with a retry
estimate past it), and cancel by closing the stream, which closes the upstream request and so frees
the slot at once.

While the server is down (it died; the supervisor restarts it with backoff) every request, running
or waiting, ends in ``EngineBusy``: a 503 with ``Retry-After``, never a hang and never a tripped
circuit breaker (the fault is transient and the supervisor is already repairing it). Requests that
llama-server would answer differently (a fill-in-the-middle suffix, token log-probabilities), and
every request when the server could not be started at all, go to the in-process engine instead.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from collections import OrderedDict, deque
from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import Any, Protocol

from ..types import Delta, GenerationRequest, ProviderError, Usage
from .base import Engine, EngineBusy
from .text import RepetitionGuard, StopScanner

log = logging.getLogger(__name__)

# llama-server's states, as the engine's own ("not loaded | loading | loaded | failed" and one more).
STATES = {
    "not started": "not loaded",
    "starting": "loading",
    "ready": "loaded",
    "restarting": "restarting",
    "failed": "failed",
    "stopped": "not loaded",
}


class Upstream(Protocol):
    """What the engine needs from the process that serves it (``gateway.llama_server.LlamaServerProcess``)."""

    parallel: int
    state: str  # a key of STATES

    @property
    def serving(self) -> bool:
        """False once llama-server could not be started at all: the in-process engine answers."""

    def endpoint(self) -> tuple[str, str] | None:
        """(base URL, API key) while the server is ready, else None."""

    def retry_after(self) -> float:
        """Seconds until a restarted server is likely to answer."""

    def unavailable(self) -> str:
        """Why the server is not answering now, for the 503."""

    async def start(self) -> None:
        """Start the server once (later calls return at once); returns when it is ready or has failed."""

    def describe(self) -> dict[str, Any]: ...


class FairSlots:
    """``size`` slots handed out round-robin across users, first come first served within a user."""

    def __init__(self, size: int) -> None:
        self.free = size
        self._waiting: OrderedDict[str, deque[asyncio.Future[None]]] = OrderedDict()

    async def acquire(self, user: str) -> None:
        if self.free > 0 and not self._waiting:
            self.free -= 1
            return
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(user, deque()).append(turn)
        try:
            await turn
        except BaseException:
            if turn.done() and not turn.cancelled():
                self.release()  # the slot arrived as the caller gave up: pass it on
            else:
                turn.cancel()
                self._forget(user, turn)
            raise

    def release(self) -> None:
        while self._waiting:
            user, turns = next(iter(self._waiting.items()))
            turn = turns.popleft()
            del self._waiting[user]
            if turns:  # this user has more waiting: to the back of the line
                self._waiting[user] = turns
            if not turn.done():
                turn.set_result(None)
                return
        self.free += 1

    def _forget(self, user: str, turn: asyncio.Future[None]) -> None:
        turns = self._waiting.get(user)
        if turns and turn in turns:
            turns.remove(turn)
            if not turns:
                del self._waiting[user]


class LlamaServerEngine(Engine):
    """The engine for one GGUF served by one supervised llama-server; ``fallback`` is the in-process
    engine on the same file (see the module docstring for when it answers)."""

    backend = "llama_server"

    def __init__(self, upstream: Upstream, fallback: Engine) -> None:
        super().__init__(fallback.source, "cpu", max(fallback.max_queue, upstream.parallel))
        self.upstream = upstream
        self.fallback = fallback
        self.gate = FairSlots(upstream.parallel)
        self._client: Any = None  # httpx.AsyncClient, made on first use (importing httpx costs time)
        try:  # the loop that serves requests, for a start asked for from another thread (``load``)
            self._loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            self._loop = None

    @property
    def in_process(self) -> bool:
        return not self.upstream.serving

    # -- loading = starting the server --------------------------------------------------------------
    def _load(self) -> None:  # pragma: no cover - load() and ensure_loaded() are replaced below
        raise NotImplementedError

    def _run(self, job: Any) -> None:  # pragma: no cover - stream() is replaced below
        raise NotImplementedError

    def load(self) -> None:
        """Blocking start from another thread (a background preload); a no-op before the event loop
        that serves requests is known (the first request starts the server then)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        asyncio.run_coroutine_threadsafe(self.ensure_loaded(), loop).result()

    async def ensure_loaded(self) -> None:
        self._loop = asyncio.get_running_loop()
        await self.upstream.start()
        if self.in_process:
            await self.fallback.ensure_loaded()

    # -- serving ------------------------------------------------------------------------------------
    async def stream(self, request: GenerationRequest) -> AsyncGenerator[Delta | Usage, None]:
        await self.ensure_loaded()
        if self.in_process or request.suffix is not None or request.logprobs:
            async with aclosing(self.fallback.stream(request)) as items:
                async for item in items:
                    yield item
            return
        if self._pending >= self.max_queue:
            raise EngineBusy(f"the local model is busy ({self._pending} requests queued)", self.retry_after())
        self._pending += 1  # only the event loop's thread touches it here
        started = 0.0
        try:
            await self.gate.acquire(request.user)
            try:
                started = time.perf_counter()
                async with aclosing(self._generate(request)) as items:
                    async for item in items:
                        yield item
            finally:
                self.gate.release()
        finally:
            self._pending -= 1
            if started:
                self._job_seconds = 0.8 * self._job_seconds + 0.2 * (time.perf_counter() - started)

    def _body(self, request: GenerationRequest) -> tuple[str, dict[str, Any]]:
        body: dict[str, Any] = {
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "repeat_penalty": request.repetition_penalty,
            "stream": True,
            "stream_options": {"include_usage": True},
            "timings_per_token": True,  # the prompt's token count arrives with the first token
            "cache_prompt": True,
        }
        if request.stop:
            body["stop"] = list(request.stop)
        if request.json_schema is not None:
            body["json_schema"] = request.json_schema
        if request.prompt is not None:
            return "/v1/completions", {**body, "prompt": request.prompt}
        return "/v1/chat/completions", {**body, "messages": [m.as_dict() for m in request.messages]}

    def _http(self) -> Any:
        if self._client is None:
            import httpx

            slots = self.upstream.parallel
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(300.0, connect=5.0),
                limits=httpx.Limits(max_connections=slots + 4, max_keepalive_connections=slots),
                trust_env=False,  # loopback: never through a proxy from the environment
            )
        return self._client

    async def _generate(self, request: GenerationRequest) -> AsyncGenerator[Delta | Usage, None]:
        import httpx

        endpoint = self.upstream.endpoint()
        if endpoint is None:
            raise EngineBusy(self.upstream.unavailable(), self.upstream.retry_after())
        url, key = endpoint
        path, body = self._body(request)
        stopper = StopScanner(request.stop)
        guard = RepetitionGuard() if request.stop_loops else None
        usage: dict[str, Any] = {}
        timings: dict[str, Any] = {}
        produced, finish, cut = 0, "stop", None
        try:
            async with self._http().stream(
                "POST", url + path, json=body, headers={"Authorization": f"Bearer {key}"}
            ) as response:
                if response.status_code >= 400:
                    raise await _upstream_error(response, self.upstream.retry_after())
                async for line in response.aiter_lines():
                    if not line.startswith("data:"):
                        continue
                    payload = line[5:].strip()
                    if payload == "[DONE]":
                        break
                    data = json.loads(payload)
                    if data.get("error"):
                        raise ProviderError(f"llama-server: {_message(data)}", status=502)
                    usage = data.get("usage") or usage
                    timings = data.get("timings") or timings
                    for choice in data.get("choices") or ():
                        text = choice["delta"].get("content") if "delta" in choice else choice.get("text")
                        finish = choice.get("finish_reason") or finish
                        if not text:
                            continue
                        produced += 1
                        shown, stopped = stopper.feed(text)
                        if shown:
                            yield Delta(shown)
                        if stopped:
                            cut = "stop"
                        elif guard is not None and guard.feed(text):
                            cut = "repetition"
                    if cut:  # leaving the block closes the request: llama-server frees the slot
                        break
        except httpx.TransportError as exc:
            log.warning("NEXUS llama-server connection lost mid-request: %s", type(exc).__name__)
            raise EngineBusy(
                "llama-server stopped answering (it is being restarted)", self.upstream.retry_after()
            ) from None
        if cut is None:
            held = stopper.flush()  # text that only looked like the start of a stop sequence
            if held:
                yield Delta(held)
        tokens_in = int(
            usage.get("prompt_tokens") or (timings.get("prompt_n", 0) + timings.get("cache_n", 0))
        )
        tokens_out = int(usage.get("completion_tokens") or timings.get("predicted_n") or produced)
        reason = cut or ("length" if finish == "length" else "stop")
        yield Usage(tokens_in, tokens_out, reason)

    def retry_after(self) -> float:
        if self.upstream.endpoint() is None:
            return self.upstream.retry_after()
        waiting = max(0, self._pending - self.upstream.parallel + 1)
        return float(min(60, max(1, math.ceil(waiting * self._job_seconds / self.upstream.parallel))))

    def describe(self) -> dict[str, Any]:
        server = self.upstream.describe()
        if self.in_process:
            return {**self.fallback.describe(), "llama_server": server}
        return {
            "state": STATES.get(self.upstream.state, self.upstream.state),
            "backend": self.backend,
            "device": "cpu",
            "source": self.source,
            "queued": self._pending,
            "slots": self.upstream.parallel,
            "loads": server.get("starts", 0),
            "load_seconds": server.get("start_seconds"),
            "error": server.get("error"),
            "llama_server": server,
        }

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


def _message(data: Any) -> str:
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict):
        return str(error.get("message") or error)
    return str(error or data)[:300]


async def _upstream_error(response: Any, retry_after: float) -> ProviderError:
    """llama-server's refusal as the engine's: 503 (loading, no slot) is busy; the rest are failures."""
    raw = await response.aread()
    try:
        message = _message(json.loads(raw))
    except ValueError:
        message = raw[:300].decode("utf-8", "replace")
    if response.status_code == 503:
        return EngineBusy(f"llama-server is busy: {message}", retry_after)
    return ProviderError(f"llama-server: HTTP {response.status_code}: {message}", status=response.status_code)
