"""``/generate``, ``/complete`` and ``/models``: the AI pipeline over REST.

Thin handlers: parse, rate-limit, call ``AIPipeline``, reply. Which model
answers is decided by the routing file alone; a request can never name a
provider URL.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from typing import TYPE_CHECKING, Any, ClassVar

from jupyter_server.auth.decorator import authorized
from tornado import web

from ..ai.engines.sources import is_bundled
from ..ai.types import NoModelAvailable
from ..api_models import (
    ChainStepOut,
    CompleteReply,
    CompleteRequest,
    FixCheckOut,
    GenerateReply,
    GenerateRequest,
    ModelsReply,
    ProviderHealthOut,
    RouteStep,
    RoutingPreferenceOut,
    TaskChainOut,
    TaskLimitsOut,
)
from ..diagnosis.offer import offer_model_fix
from ..diagnosis.scratch import FixCheck
from ..diagnosis.service import COMPUTED_MODEL, COMPUTED_PROVIDER, Diagnosed, Diagnosis
from ..errors import NexusError
from .base import NexusHandler, Operation

if TYPE_CHECKING:  # the pipeline loads the ORM models; it is built on first use
    from ..ai.pipeline import AIPipeline, CompleteResult
    from ..ai.results import GenerateResult


class AIHandler(NexusHandler):
    def pipeline(self) -> AIPipeline:
        pipeline = self.nexus.pipeline
        if pipeline is None:
            raise NexusError(
                503, "unavailable", "The model routing file is invalid; see /status for the key to fix."
            )
        return pipeline


def no_model(exc: NoModelAvailable) -> NexusError:
    """503; with ``Retry-After`` when the models were busy (overload), so clients back off and retry."""
    seconds = exc.retry_after_header
    if seconds is not None:
        return NexusError(
            503,
            "overloaded",
            f"Every model for this request is busy; try again in {seconds} s.",
            headers={"Retry-After": seconds},
        )
    return NexusError(503, "no_model_available", str(exc))


def computed_reply(body: GenerateRequest, diagnosed: Diagnosed) -> GenerateReply:
    """A fix the error's facts settle (``diagnosis``), in the shape of a model's answer: its code
    only when its check run passed."""
    offer = diagnosed.computed_offer(body.language)
    return GenerateReply(
        code=offer.code,
        explanation=f"{diagnosed.lead}\n\n{offer.text}",
        language=body.language,
        valid=True,
        provider=COMPUTED_PROVIDER,
        model=COMPUTED_MODEL,
        outcome="computed",
        fallback_path=[],
        interaction_id=None,
        ttft_ms=None,
        latency_ms=0.0,
        tokens_out=0,
        check=check_out(offer.check),
    )


def check_out(check: FixCheck | None) -> FixCheckOut | None:
    return FixCheckOut(**check.as_dict()) if check is not None else None


class GenerateHandler(AIHandler):
    auth_resource = "nexus:generate"
    operations = {
        "post": Operation(
            "Generate code and an explanation for a prompt, through the task's model chain.",
            request=GenerateRequest,
            response=GenerateReply,
            max_body_bytes=256 * 1024,
            rate_class="chat",
        )
    }

    @web.authenticated
    @authorized
    async def post(self) -> None:
        body = self.read_model(GenerateRequest)
        context = body.context.model_dump(exclude_none=True)
        # With a traceback (the debug panel's Explain / Fix), the facts are computed, not generated:
        # the model is told them, the explanation starts with them, and a fix they settle needs no model.
        diagnosed = None
        if body.context.error:
            diagnosed = await self._diagnosis().diagnose(
                traceback=body.context.error,
                code=body.context.code,
                notebook_path=body.context.notebook_path,
                fix=True,
            )
        if diagnosed is not None and diagnosed.fix is not None:
            self.write_model(computed_reply(body, diagnosed))
            return
        if diagnosed is not None:
            context["error"] = diagnosed.model_context(body.context.error or "")
        chain = None
        if self.nexus.learning is not None:  # the order feedback has given the chain, as the chat's
            chain = (await self.nexus.learning.preference(body.task)).order or None
        try:
            result = await self.pipeline().generate(
                body.task,
                body.prompt,
                context=context,
                language=body.language,
                max_tokens=body.max_tokens,
                user_id=await self.user_id(),
                owner=self.username,
                chain=chain,
            )
        except NoModelAvailable as exc:
            raise no_model(exc) from None
        data = asdict(result)
        data.pop("error")
        data.pop("text")  # the reply carries the code and the explanation extracted from it
        if diagnosed is not None:  # a fix: offered only once its check run passed
            data.update(await self._offered(body, result, diagnosed))
        data["fallback_path"] = [RouteStep(**p) for p in result.fallback_path]
        self.write_model(GenerateReply(**data))

    def _diagnosis(self) -> Diagnosis:
        return self.nexus.diagnosis or Diagnosis()

    async def _offered(
        self, body: GenerateRequest, result: GenerateResult, diagnosed: Diagnosed
    ) -> dict[str, Any]:
        """A model's fix after its check run: the reply's code, explanation and check."""
        code = result.code if result.code.strip() else ""
        fence = f"```{body.language}\n{code.rstrip()}\n```" if code else ""
        answer = "\n\n".join(p for p in (result.explanation, fence) if p)
        bundled = is_bundled(result.provider, result.model)
        if code and not result.valid:  # it does not even parse: no need to run it
            broken = FixCheck("failed", f"the proposed code does not parse ({result.error}).")
            offer = offer_model_fix(answer, code, broken, hide_unverified=bundled)
        else:
            offer = await self._diagnosis().offer_model_fix(
                answer, code, notebook_path=body.context.notebook_path, hide_unverified=bundled
            )
        if offer.check is None:
            explanation = result.explanation
        elif offer.offered:
            explanation = f"{result.explanation}\n\n{offer.check.render_markdown()}".strip()
        else:
            explanation = offer.text
        return {
            "code": offer.code,
            "explanation": "\n\n".join(p for p in (diagnosed.lead, explanation) if p),
            "check": check_out(offer.check),
        }


class CompleteHandler(AIHandler):
    auth_resource = "nexus:complete"
    in_flight: ClassVar[dict[str, asyncio.Future[CompleteResult]]] = {}  # per user, the live completion
    operations = {
        "post": Operation(
            "An inline completion for the text around the cursor.",
            request=CompleteRequest,
            response=CompleteReply,
            max_body_bytes=256 * 1024,
            rate_class="completion",
        )
    }

    @web.authenticated
    @authorized
    async def post(self) -> None:
        body = self.read_model(CompleteRequest)
        if not body.prefix.strip():
            raise NexusError(
                400, "invalid_request", "prefix: there is nothing before the cursor to complete."
            )
        work = asyncio.ensure_future(
            self.pipeline().complete(
                body.prefix,
                body.suffix,
                language=body.language,
                path=body.path,
                cells=body.cells,
                max_tokens=body.max_tokens,
                user_id=await self.user_id(),
                owner=self.username,
            )
        )
        # A user's newer completion supersedes the older one (as on the websocket): the text around
        # the cursor has changed, so the older answer is stale and must not hold the model.
        older = self.in_flight.get(self.username)
        self.in_flight[self.username] = self.work = work
        if older is not None:
            older.cancel()
        try:
            result = await work
        except asyncio.CancelledError:
            if not work.cancelled():  # this request itself is being torn down
                raise
            raise NexusError(
                409, "superseded", "A newer completion request from you replaced this one."
            ) from None
        except NoModelAvailable as exc:
            raise no_model(exc) from None
        finally:
            if self.in_flight.get(self.username) is work:
                del self.in_flight[self.username]
        self.write_model(CompleteReply(**asdict(result)))

    def on_connection_close(self) -> None:
        """The client went away: stop generating for it."""
        work = getattr(self, "work", None)
        if work is not None:
            work.cancel()


class ModelsHandler(AIHandler):
    auth_resource = "nexus:models"
    operations = {
        "get": Operation(
            "The model chain per task with each provider's state, circuit breaker, latency and limits.",
            response=ModelsReply,
        )
    }

    @web.authenticated
    @authorized
    async def get(self) -> None:
        router = self.pipeline().router
        tasks = []
        for entry in router.describe(await router.keys_for(self.username)):
            chain = []
            for step in entry["chain"]:
                detail = step["detail"]
                engine = (
                    {k: v for k, v in detail.items() if k != "configured"}
                    if step["kind"] == "local"
                    else None
                )
                chain.append(
                    ChainStepOut(
                        provider=step["provider"],
                        model=step["model"],
                        kind=step["kind"],
                        state=step["state"],
                        health=ProviderHealthOut(**asdict(step["health"])) if step["health"] else None,
                        engine=engine,
                    )
                )
            preference = None
            if self.nexus.learning is not None:  # the order feedback has given the chain (core/learning.py)
                learned = await self.nexus.learning.preference(entry["task"])
                preference = RoutingPreferenceOut.model_validate(self.nexus.learning.describe(learned))
            tasks.append(
                TaskChainOut(
                    task=entry["task"],
                    limits=TaskLimitsOut(**asdict(entry["limits"])),
                    chain=chain,
                    preference=preference,
                )
            )
        self.write_model(ModelsReply(tasks=tasks))


default_handlers = [
    (r"/nexus/api/v1/generate", GenerateHandler),
    (r"/nexus/api/v1/complete", CompleteHandler),
    (r"/nexus/api/v1/models", ModelsHandler),
]
