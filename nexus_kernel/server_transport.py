"""``ServerTransport``: the magics as a client of the NEXUS REST API of the kernel's own Jupyter server.

It is deliberately a plain HTTP client (httpx, synchronous): a magic runs on
the kernel's main thread, one request at a time, and the server does the
routing, rate limiting and interaction recording exactly as for the chat panel.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx

from .transport import (
    RECENT,
    AnswerEvent,
    CodeResult,
    Provenance,
    ServerInfo,
    Transport,
    TransportError,
    prompt_hash,
)

API = "nexus/api/v1"


def _answer_text(reply: dict[str, Any]) -> str:
    """The server splits an answer into code and prose; put it back together for display."""
    code, explanation = reply.get("code") or "", reply.get("explanation") or ""
    if code.strip():
        block = f"```{reply.get('language') or 'python'}\n{code.rstrip()}\n```"
        return f"{block}\n\n{explanation}".strip()
    return explanation


class ServerTransport(Transport):
    name = "server"

    def __init__(self, info: ServerInfo, timeout: float = 180.0) -> None:
        self.info = info
        headers = {"Authorization": f"token {info.token}"} if info.token else {}
        self.client = httpx.Client(base_url=info.url, headers=headers, timeout=timeout)

    def _request(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        try:
            response = self.client.request(method, f"{API}/{path}", json=body)
        except httpx.HTTPError as exc:
            raise TransportError(
                f"cannot reach the NEXUS server at {self.info.url} ({type(exc).__name__})"
            ) from None
        if response.status_code >= 400:
            try:
                message = response.json().get("message") or response.reason_phrase
            except ValueError:
                message = response.reason_phrase
            raise TransportError(f"the NEXUS server answered {response.status_code}: {message}")
        try:
            data: dict[str, Any] = response.json()
        except ValueError:
            raise TransportError(f"the server at {self.info.url} did not answer as NEXUS does") from None
        return data

    def runs_nexus(self) -> bool:
        """True when the server answers ``/status`` as NEXUS (a Jupyter server without it does not)."""
        try:
            return self._request("GET", "status").get("name") == "nexus"
        except TransportError:
            return False

    def _generate(
        self, task: str, prompt: str, context: dict[str, Any], max_tokens: int | None
    ) -> tuple[dict[str, Any], Provenance]:
        started = time.perf_counter()
        body: dict[str, Any] = {
            "task": task,
            "prompt": prompt,
            "context": {k: v for k, v in context.items() if k in ("code", "error", "notebook_path") and v},
        }
        if max_tokens:
            body["max_tokens"] = max_tokens
        reply = self._request("POST", "generate", body)
        prov = Provenance(
            task,
            self.name,
            prompt_hash(task, prompt, context),
            reply.get("model", ""),
            reply.get("provider", ""),
            (time.perf_counter() - started) * 1000,
            reply.get("ttft_ms"),
            int(reply.get("tokens_out") or 0),
            reply.get("interaction_id"),
            list(reply.get("fallback_path") or []),
        )
        RECENT.append(prov)
        return reply, prov

    def stream(
        self,
        task: str,
        prompt: str,
        *,
        context: dict[str, Any] | None = None,
        history: list[tuple[str, str]] | None = None,
        model: str | None = None,
        max_tokens: int | None = None,
    ) -> Iterator[AnswerEvent]:
        if model:
            raise TransportError("--model needs the in-process engine; on a server the routing file decides")
        context = dict(context or {})
        if history:  # the REST API is stateless: earlier turns travel as context
            turns = "\n".join(f"{role}: {text}" for role, text in history[-6:])
            prompt = f"Earlier in this conversation:\n{turns}\n\n{prompt}"
        reply, prov = self._generate(task, prompt, context, max_tokens)
        text = _answer_text(reply)
        yield AnswerEvent("delta", text)
        yield AnswerEvent("done", text, prov)

    def generate(
        self,
        task: str,
        prompt: str,
        *,
        context: dict[str, Any] | None = None,
        model: str | None = None,
        max_tokens: int | None = None,
    ) -> CodeResult:
        if model:
            raise TransportError("--model needs the in-process engine; on a server the routing file decides")
        reply, prov = self._generate(task, prompt, dict(context or {}), max_tokens)
        return CodeResult(
            reply.get("code") or "", reply.get("explanation") or "", bool(reply.get("valid")), prov
        )

    def models(self) -> dict[str, Any]:
        return self._request("GET", "models")

    def status(self) -> dict[str, Any]:
        data = self._request("GET", "status")
        return {"transport": self.name, "server": self.info.url, **data}

    def transcribe(self, audio: bytes, mime: str) -> dict[str, Any]:
        """``POST /voice/transcribe`` with the raw audio: ``{"text", "command", ...}``."""
        try:
            response = self.client.post(
                f"{API}/voice/transcribe", content=audio, headers={"Content-Type": mime}
            )
        except httpx.HTTPError as exc:
            raise TransportError(
                f"cannot reach the NEXUS server at {self.info.url} ({type(exc).__name__})"
            ) from None
        if response.status_code == 404:
            raise TransportError("this NEXUS server has no voice service")
        if response.status_code >= 400:
            try:
                message = response.json().get("message") or response.reason_phrase
            except ValueError:
                message = response.reason_phrase
            raise TransportError(f"the NEXUS server answered {response.status_code}: {message}")
        data: dict[str, Any] = response.json()
        return data
