"""The NEXUS model gateway: an OpenAI-compatible API over the same router and local engine.

A JupyterHub deployment runs one per GPU node; user servers point their
``gateway`` provider at it. Because it speaks the OpenAI protocol, vLLM (or any
compatible server) can replace it without touching the user servers.

Model ids: ``nexus-local`` (and each local provider's chain label) is the
local engine directly; a task name (``code_generation``, ``completion``, ...)
is that task's chain, minus the ``gateway`` provider itself so a gateway never
calls itself. Nothing heavy is imported until a request needs a model.
A request with ``tools`` passes them (and its tool turns) to the router and is
answered with OpenAI tool calls (``tools.py``).
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from contextlib import aclosing
from typing import Any

from tornado import web

from ..ai.router import ModelRouter
from ..ai.types import Delta, Done, GenerationMeta, NoModelAvailable, Restart
from ..metrics import register_collectors
from .admin import StatusHandler, UsageHandler
from .auth import GatewayAuth, SharedTokenAuth
from .base import Gateway, GatewayHandler
from .errors import GatewayError
from .llama_server import LlamaServer
from .metrics import MetricsHandler
from .quotas import UsageStore
from .tools import call_deltas, call_messages, read_messages, read_tools


def _int(data: dict[str, Any], *keys: str, default: int) -> int:
    for key in keys:
        if data.get(key) is not None:
            value = data[key]
            if not isinstance(value, int) or value < 1:
                raise GatewayError(400, f"'{key}' must be a positive integer.")
            return value
    return default


def _params(data: dict[str, Any]) -> dict[str, Any]:
    temperature = data.get("temperature", 0.0)
    if temperature is None:
        temperature = 0.0
    if not isinstance(temperature, (int, float)) or not 0 <= temperature <= 2:
        raise GatewayError(400, "'temperature' must be a number between 0 and 2.")
    stop = data.get("stop") or []
    stop = [stop] if isinstance(stop, str) else stop
    if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop):
        raise GatewayError(400, "'stop' must be a string or a list of strings.")
    return {
        "max_tokens": _int(data, "max_completion_tokens", "max_tokens", default=256),
        "temperature": float(temperature),
        "stop": stop,
    }


class ModelsHandler(GatewayHandler):
    async def get(self) -> None:
        g = self.gateway
        data = [
            {"id": m, "object": "model", "created": g.created, "owned_by": "nexus"} for m in g.model_ids()
        ]
        self.finish({"object": "list", "data": data})


class GenerationHandler(GatewayHandler):
    """``/v1/chat/completions`` and ``/v1/completions``: one streaming core, two envelopes."""

    chat = True
    _whole_answer: asyncio.Future[None] | None = None

    def on_connection_close(self) -> None:
        """The client left: stop a whole answer now, which closes its model request (and frees a
        llama-server slot). A stream stops by itself at its next write."""
        if self._whole_answer is not None:
            self._whole_answer.cancel()

    def _request(self, data: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(data.get("model"), str):
            raise GatewayError(400, "'model' is required.")
        if self.chat:
            messages = data.get("messages")
            if not isinstance(messages, list) or not messages:
                raise GatewayError(400, "'messages' must be a non-empty list.")
            tools = read_tools(data)
            return {"messages": read_messages(messages), **({"tools": tools} if tools else {})}
        prompt = data.get("prompt")
        if isinstance(prompt, list) and len(prompt) == 1:
            prompt = prompt[0]
        if not isinstance(prompt, str):
            raise GatewayError(400, "'prompt' must be a string.")
        return {"prompt": prompt}

    async def post(self) -> None:
        try:
            data = self.body()
            inputs = self._request(data)
            params = _params(data)
            task, chain = self.gateway.route(
                data["model"], "agent" if "tools" in inputs else "natural_language"
            )
            tokens_left = await self.admit()
        except GatewayError as err:
            return self.fail(err)
        if tokens_left is not None:  # never let one answer overrun the quota by much
            params["max_tokens"] = max(1, min(params["max_tokens"], tokens_left))
        events = self.gateway.router.stream(
            task, exclude=self.gateway.exclude, chain=chain, **inputs, **params
        )
        ident = ("chatcmpl-" if self.chat else "cmpl-") + uuid.uuid4().hex[:24]
        if data.get("stream"):
            usage = bool((data.get("stream_options") or {}).get("include_usage"))
            await self._stream(events, ident, data["model"], usage)
        else:
            self._whole_answer = asyncio.ensure_future(self._whole(events, ident, data["model"]))
            try:
                await self._whole_answer
            except asyncio.CancelledError:  # the client left (on_connection_close): nobody to answer
                if not self._whole_answer.cancelled():
                    raise

    def _choice(self, text: str | None, finish: str | None, first: bool = False) -> dict[str, Any]:
        if not self.chat:
            return {"index": 0, "text": text or "", "finish_reason": finish, "logprobs": None}
        delta: dict[str, Any] = {"role": "assistant"} if first else {}
        if text is not None:
            delta["content"] = text
        return {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}

    def _chunk(self, ident: str, model: str, choices: list[Any], usage: Any = None) -> str:
        obj = "chat.completion.chunk" if self.chat else "text_completion"
        chunk = {"id": ident, "object": obj, "created": int(time.time()), "model": model, "choices": choices}
        if usage is not None:
            chunk["usage"] = usage
        return f"data: {json.dumps(chunk)}\n\n"

    async def _stream(self, events: Any, ident: str, model: str, include_usage: bool) -> None:
        self.set_header("Content-Type", "text/event-stream")
        self.set_header("Cache-Control", "no-cache")
        first, produced, recorded = True, 0, False
        async with aclosing(events) as items:
            try:
                async for event in items:
                    if isinstance(event, Delta):
                        produced += 1
                        self.write(self._chunk(ident, model, [self._choice(event.text, None, first)]))
                        first = False
                        await self.flush()
                    elif isinstance(event, Restart):
                        # OpenAI streams cannot take text back: end with an error so the client falls back.
                        self.write(_sse_error("the model failed mid-answer"))
                        self.finish()
                        return
                    elif isinstance(event, Done):
                        meta = event.meta
                        await self.record(model, meta.tokens_in, meta.tokens_out)
                        recorded = True
                        if self.chat and meta.tool_calls:
                            delta: dict[str, Any] = {"tool_calls": call_deltas(meta.tool_calls)}
                            if first:
                                delta["role"] = "assistant"
                            choice = {"index": 0, "delta": delta, "finish_reason": None, "logprobs": None}
                            self.write(self._chunk(ident, model, [choice]))
                            first = False
                        finish = _finish(meta)
                        self.write(
                            self._chunk(
                                ident, model, [self._choice(None if self.chat else "", finish, first)]
                            )
                        )
                        if include_usage:
                            self.write(self._chunk(ident, model, [], _usage(meta)))
                        self.write("data: [DONE]\n\n")
                        self.finish()
                        return
            except NoModelAvailable as exc:
                if first:  # nothing sent yet: a proper status, with Retry-After when overloaded
                    self.clear_header("Cache-Control")
                    return self.fail(no_model_error(exc))
                self.write(_sse_error("no model could answer"))
                self.finish()
            except (asyncio.CancelledError, web.iostream.StreamClosedError):
                return None
            finally:
                if not recorded:  # cancelled or failed: charge what was streamed
                    await self.record(model, 0, produced)

    async def _whole(self, events: Any, ident: str, model: str) -> None:
        meta, produced = None, 0
        try:
            async with aclosing(events) as items:
                async for event in items:
                    if isinstance(event, Delta):
                        produced += 1
                    elif isinstance(event, Done):
                        meta = event.meta
        except NoModelAvailable as exc:
            return self.fail(no_model_error(exc))
        finally:
            if meta is None:  # cancelled (the client left) or failed: charge what was generated
                await self.record(model, 0, produced)
        assert meta is not None
        await self.record(model, meta.tokens_in, meta.tokens_out)
        finish = _finish(meta)
        if self.chat:
            message: dict[str, Any] = {"role": "assistant", "content": meta.text}
            if meta.tool_calls:
                message.update(content=meta.text or None, tool_calls=call_messages(meta.tool_calls))
            choice: dict[str, Any] = {
                "index": 0,
                "message": message,
                "finish_reason": finish,
                "logprobs": None,
            }
        else:
            choice = {"index": 0, "text": meta.text, "finish_reason": finish, "logprobs": None}
        obj = "chat.completion" if self.chat else "text_completion"
        self.finish(
            {
                "id": ident,
                "object": obj,
                "created": int(time.time()),
                "model": model,
                "choices": [choice],
                "usage": _usage(meta),
            }
        )


class CompletionsHandler(GenerationHandler):
    chat = False


class EmbeddingsHandler(GatewayHandler):
    async def post(self) -> None:
        from ..ai.embeddings import MAX_INPUTS, get_embedder

        try:
            data = self.body()
            texts = data.get("input")
            texts = [texts] if isinstance(texts, str) else texts
            if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
                raise GatewayError(400, "'input' must be a string or a non-empty list of strings.")
            if len(texts) > MAX_INPUTS:
                raise GatewayError(400, f"'input' may hold at most {MAX_INPUTS} strings.")
            embedder = get_embedder()
            asked = data.get("model")
            # One embedding model per gateway: asking for another by name is an error, not a silent
            # substitute (vectors from two models cannot be compared). "embeddings" names the task.
            if asked not in (None, "", "embeddings", embedder.name):
                raise GatewayError(
                    404,
                    f"The embedding model '{asked}' does not exist here; "
                    f"this gateway embeds with {embedder.name}.",
                    code="model_not_found",
                )
            # Embeddings are the user servers' plumbing (every chat message's intent, every /learn), not
            # answers: rate-limited and in the ledger, but not spent from the token quota, so indexing a
            # folder never leaves a user without answers.
            await self.admit(quota=False)
        except GatewayError as err:
            return self.fail(err)
        array = await embedder.embed(texts)
        tokens = await asyncio.to_thread(embedder.count_tokens, texts)
        vectors = array.tolist()
        await self.record(embedder.name, tokens, 0, quota=False)
        self.finish(
            {
                "object": "list",
                "model": embedder.name,  # the model that really made the vectors
                "data": [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)],
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            }
        )


def _finish(meta: GenerationMeta) -> str:
    if meta.tool_calls:
        return "tool_calls"
    return "length" if meta.finish_reason == "length" else "stop"


def _sse_error(message: str) -> str:
    return f"data: {json.dumps({'error': {'message': message, 'type': 'server_error'}})}\n\n"


def _usage(meta: Any) -> dict[str, int]:
    return {
        "prompt_tokens": meta.tokens_in,
        "completion_tokens": meta.tokens_out,
        "total_tokens": meta.tokens_in + meta.tokens_out,
    }


class RootHandler(web.RequestHandler):
    """An unauthenticated pointer to the API, so the Hub's service health check gets a 200, not 404."""

    def get(self) -> None:
        self.finish({"name": "nexus-gateway", "api": self.request.path.rstrip("/") + "/v1"})


def make_app(
    router: ModelRouter,
    token: str = "",
    *,
    auth: GatewayAuth | None = None,
    usage: UsageStore | None = None,
    prefix: str = "/",
    llama_server: LlamaServer | None = None,
) -> web.Application:
    """The gateway's tornado app, served at ``/v1`` and, behind the Hub's proxy, at ``<prefix>v1``.

    ``llama_server``: serve the router's local GGUF models through llama-server's parallel slots
    (``llama_server.py``; its ``adopt`` swaps the engines in); None: in-process, one at a time."""
    gateway = Gateway(router, auth or SharedTokenAuth(token), usage)
    if llama_server is not None:
        llama_server.adopt(router)
        gateway.llama_server = llama_server
    args = {"gateway": gateway}
    routes: list[Any] = []
    prefixes = ["/"] if prefix.strip("/") == "" else ["/", "/" + prefix.strip("/") + "/"]
    for base in prefixes:
        routes += [
            (rf"{base}v1/models", ModelsHandler, args),
            (rf"{base}v1/chat/completions", GenerationHandler, args),
            (rf"{base}v1/completions", CompletionsHandler, args),
            (rf"{base}v1/embeddings", EmbeddingsHandler, args),
            (rf"{base}v1/status", StatusHandler, args),
            (rf"{base}v1/usage(?:/(?P<who>me))?", UsageHandler, args),
            (rf"{base}?", RootHandler),
        ]
    routes.append((r"/metrics", MetricsHandler))  # for Prometheus, at the root only (metrics.py)
    register_collectors()
    app = web.Application(routes)
    app.settings["gateway"] = gateway
    return app


def no_model_error(exc: NoModelAvailable) -> GatewayError:
    """503, with ``Retry-After`` when every model was busy rather than broken (overload)."""
    seconds = exc.retry_after_header
    if seconds is not None:
        why = next((str(p.get("error")) for p in exc.path if p["outcome"] == "busy" and p.get("error")), "")
        return GatewayError(
            503,
            f"Every model is busy{f' ({why})' if why else ''}; try again in {seconds} s.",
            "server_error",
            "overloaded",
            headers={"Retry-After": seconds},
        )
    return GatewayError(503, str(exc), "server_error", "no_model_available")
