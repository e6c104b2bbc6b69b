"""``ServerTransport``: the magics as a client of the NEXUS API of the kernel's own Jupyter server.

Answers (``ask``, ``chat``, ``explain``, ``fix``) stream over the NEXUS
websocket as ``generate`` frames, read on the kernel's background loop
(``runner``), so the cell's output grows while the model writes. Everything
else is plain synchronous REST (httpx): ``generate`` (validated code),
``/memory`` (the user's one memory on the server, the chat panel's too),
``/feedback`` (the learning system) and ``/metrics/summary``. The server does
the routing, rate limiting and interaction recording exactly as for the chat panel.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx

from .runner import runner
from .transport import (
    RECENT,
    AnswerEvent,
    CodeResult,
    Found,
    Learned,
    LearnProgress,
    Provenance,
    ServerInfo,
    Transport,
    TransportError,
    prompt_hash,
)

API = "nexus/api/v1"
CONTEXT_KEYS = ("code", "error", "notebook_path")
LEARN_POLL_S = 0.25


def _message(response: httpx.Response) -> str:
    try:
        return str(response.json().get("message") or response.reason_phrase)
    except ValueError:
        return response.reason_phrase


class ServerTransport(Transport):
    name = "server"

    def __init__(self, info: ServerInfo, timeout: float = 180.0) -> None:
        self.info = info
        self.timeout = timeout
        self.headers = {"Authorization": f"token {info.token}"} if info.token else {}
        self.client = httpx.Client(base_url=info.url, headers=self.headers, timeout=timeout)

    def _request(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        try:
            response = self.client.request(method, f"{API}/{path}", json=body, params=params)
        except httpx.HTTPError as exc:
            raise TransportError(
                f"cannot reach the NEXUS server at {self.info.url} ({type(exc).__name__})"
            ) from None
        if response.status_code >= 400:
            raise TransportError(f"the NEXUS server answered {response.status_code}: {_message(response)}")
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
            "context": {k: v for k, v in context.items() if k in CONTEXT_KEYS and v},
        }
        if max_tokens:
            body["max_tokens"] = max_tokens
        reply = self._request("POST", "generate", body)
        return reply, self._provenance(task, prompt, context, reply, started)

    def _provenance(
        self, task: str, prompt: str, context: dict[str, Any], reply: dict[str, Any], started: float
    ) -> Provenance:
        """Where an answer came from, from the server's reply (``POST /generate`` or ``generate.done``)."""
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
        return prov

    async def _frames(self, frame: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        """The server's frames about ``frame``'s request, until its ``generate.done`` or ``error``.

        One socket per answer: closing it (the cell interrupted) cancels the generation on the server.
        """
        from tornado.httpclient import HTTPClientError, HTTPRequest
        from tornado.websocket import websocket_connect

        url = "ws" + self.info.url.removeprefix("http") + f"{API}/ws"
        request = HTTPRequest(url, headers=self.headers, connect_timeout=30, request_timeout=self.timeout)
        try:
            socket = await websocket_connect(request)
        except HTTPClientError as exc:
            raise TransportError(f"the NEXUS server refused the websocket ({exc.code})") from None
        except OSError as exc:
            raise TransportError(
                f"cannot reach the NEXUS server at {self.info.url} ({type(exc).__name__})"
            ) from None
        try:
            await socket.write_message(json.dumps(frame))
            while True:
                try:
                    message = await asyncio.wait_for(socket.read_message(), self.timeout)
                except asyncio.TimeoutError:
                    raise TransportError(f"no answer from the NEXUS server in {self.timeout:.0f} s") from None
                if message is None:
                    raise TransportError("the NEXUS server closed the connection before the answer ended")
                data = json.loads(message)
                if data.get("id") != frame["id"]:  # the user's other requests share the socket's room
                    continue
                yield data
                if data.get("type") in ("generate.done", "error"):
                    return
        finally:
            socket.close()

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
        frame: dict[str, Any] = {
            "type": "generate",
            "id": uuid.uuid4().hex,
            "task": task,
            "prompt": prompt,
            "context": {k: v for k, v in context.items() if k in CONTEXT_KEYS and v},
            "history": [{"role": r, "content": t} for r, t in (history or [])][-20:],
        }
        if max_tokens:
            frame["max_tokens"] = max_tokens
        started = time.perf_counter()
        for data in runner().iterate(self._frames(frame)):
            kind = data.get("type")
            if kind == "generate.delta":
                yield AnswerEvent("delta", data["text"])
            elif kind == "generate.restart":
                yield AnswerEvent("restart", data.get("reason", ""))
            elif kind == "error":
                raise TransportError(f"the NEXUS server answered: {data.get('message')}")
            elif kind == "generate.done":
                if data.get("cancelled"):
                    raise KeyboardInterrupt
                prov = self._provenance(task, prompt, context, data, started)
                yield AnswerEvent("done", data.get("text", ""), prov)
                return
        raise TransportError("the NEXUS server ended the answer without a final frame")

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

    def learn(self, path: str, progress: LearnProgress | None = None) -> Learned:
        """``POST /memory/learn`` with the absolute path (the kernel and its server share the disk); the
        server runs it as a ``learn`` task (its progress bar in JupyterLab, Cancel there or in /tasks)."""
        target = Path(path).expanduser().resolve()
        if not target.exists():
            raise FileNotFoundError(f"{path}: no such file or folder")
        job = self._request("POST", "memory/learn", {"path": str(target)})
        while job.get("state") in ("pending", "running"):
            if progress is not None:
                progress(int(job.get("files_done") or 0), int(job.get("files_total") or 0), "")
            time.sleep(LEARN_POLL_S)
            job = self._request("GET", f"memory/learn/{job['id']}")
        if job.get("state") == "cancelled":
            done = f"{job.get('files_done', 0)} of {job.get('files_total', 0)} files"
            raise TransportError(f"learning {path} was cancelled after {done}")
        if job.get("state") != "succeeded":
            problems = "; ".join(job.get("errors") or ["no reason given"])
            raise TransportError(f"learning {path} failed: {problems}")
        return Learned(
            int(job["files_indexed"]),
            int(job["chunks_added"]),
            int(job.get("files_unchanged") or 0),
            list(job.get("errors") or []),
        )

    def search(self, query: str, k: int = 5) -> list[Found]:
        found = self._request("GET", "memory", params={"q": query[:2000], "k": k})
        return [
            Found(h["source"], h.get("lines"), float(h["score"]), h.get("text", ""))
            for h in found.get("results", [])
        ]

    def forget(self) -> str:
        return "nothing of your memory: learned files stay on the NEXUS server, shared with the chat panel"

    def feedback(self, prov: Provenance, kind: str) -> str:
        if prov.interaction_id is None:
            raise TransportError("the server did not record this answer, so it cannot be rated")
        self._request("POST", "feedback", {"interaction_id": prov.interaction_id, "kind": kind})
        return "the NEXUS server's learning system"

    def metrics(self) -> dict[str, Any]:
        return self._request("GET", "metrics/summary")

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
            raise TransportError(f"the NEXUS server answered {response.status_code}: {_message(response)}")
        data: dict[str, Any] = response.json()
        return data
