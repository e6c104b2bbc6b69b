"""Embeddings from an OpenAI-compatible ``/v1/embeddings`` endpoint: the team gateway.

On JupyterHub every user server would otherwise load its own copy of the
embedding model; with the routing file's ``embeddings`` chain starting at the
gateway, a node holds one. Vectors from two models cannot share a memory, so a
reply whose ``model`` is not the one the chain names, or whose vectors have
another length, is refused rather than stored.

Calls are blocking (httpx's sync client): embedding runs on worker threads.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import httpx

from .embedding_errors import EmbeddingsUnavailable

if TYPE_CHECKING:
    import numpy as np

RETRY_AFTER_S = 30.0  # a failed source is skipped this long before it is tried again
MAX_BATCH = 256  # the gateway's own limit per request


class RemoteEmbeddings:
    """One chain step whose provider is an OpenAI-compatible endpoint."""

    def __init__(
        self,
        provider: str,
        base_url: str,
        api_key: str,
        model: str,
        dimensions: int,
        timeout_s: float = 30.0,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.provider = provider
        self.model = model
        self.dimensions = dimensions
        self._url = base_url.rstrip("/") + "/embeddings"
        self._headers = {**(headers or {}), "Authorization": f"Bearer {api_key}"}
        self._client = httpx.Client(timeout=timeout_s)
        self._lock = threading.Lock()
        self.down_until = 0.0
        self.last_error: str | None = None
        self.served = 0

    @property
    def label(self) -> str:
        return f"{self.provider}/{self.model}"

    def skipped(self) -> bool:
        return time.monotonic() < self.down_until

    def encode(self, texts: Sequence[str], batch_size: int) -> np.ndarray:
        import numpy as np

        out: list[np.ndarray] = []
        try:
            step = min(batch_size, MAX_BATCH)
            for start in range(0, len(texts), step):
                out.append(self._post(list(texts[start : start + step])))
        except EmbeddingsUnavailable as exc:
            with self._lock:
                self.down_until = time.monotonic() + RETRY_AFTER_S
                self.last_error = str(exc)
            raise
        with self._lock:
            self.served += len(texts)
            self.last_error = None
        return np.concatenate(out) if out else np.zeros((0, self.dimensions), dtype=np.float32)

    def _post(self, batch: list[str]) -> np.ndarray:
        import numpy as np

        try:
            response = self._client.post(
                self._url, json={"model": self.model, "input": batch}, headers=self._headers
            )
        except httpx.HTTPError as exc:
            raise EmbeddingsUnavailable(f"{self.provider} is unreachable ({type(exc).__name__})") from None
        if response.status_code != 200:
            raise EmbeddingsUnavailable(
                f"{self.provider} answered HTTP {response.status_code}: {_message(response)}"
            )
        try:
            body = response.json()
            rows = sorted(body["data"], key=lambda row: row["index"])
            vectors = np.asarray([row["embedding"] for row in rows], dtype=np.float32)
        except (ValueError, KeyError, TypeError) as exc:
            raise EmbeddingsUnavailable(
                f"{self.provider} sent a reply that is not embeddings ({exc})"
            ) from None
        used = str(body.get("model") or "")
        if used != self.model:
            raise EmbeddingsUnavailable(
                f"{self.provider} embeds with {used or 'an unnamed model'}, not {self.model}: "
                "vectors from two models cannot share one memory"
            )
        if vectors.shape != (len(batch), self.dimensions):
            raise EmbeddingsUnavailable(
                f"{self.provider} sent vectors of shape {vectors.shape}, "
                f"expected ({len(batch)}, {self.dimensions})"
            )
        return vectors

    def status(self) -> dict[str, Any]:
        return {
            "source": self.label,
            "state": "down" if self.skipped() else "ok",
            "served": self.served,
            "error": self.last_error,
        }

    def close(self) -> None:
        self._client.close()


def _message(response: httpx.Response) -> str:
    """The error's own words, if the reply is OpenAI-shaped JSON; never the body as is (it may be HTML)."""
    try:
        error = response.json().get("error")
        text = error.get("message") if isinstance(error, dict) else error
        return str(text)[:200] if text else response.reason_phrase
    except (ValueError, AttributeError):
        return response.reason_phrase
