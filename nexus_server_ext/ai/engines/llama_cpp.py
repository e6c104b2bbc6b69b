"""``backend: llama_cpp``: a GGUF served by llama.cpp (llama-cpp-python), one sequence at a time.

llama.cpp runs the bundled quantised model about five times faster than
transformers (which dequantises it to fp32) and loads it in a fraction of a
second, so it is the default for ``.gguf`` files. With a CUDA build of
llama.cpp the layers are offloaded to the GPU (``device: cuda`` or ``auto``).
The chat template comes from the GGUF itself; llama.cpp also reuses the
longest common prompt prefix between calls, which keeps inline completion fast.
A request with ``json_schema`` is decoded under a grammar made from the schema,
so the output always has that shape (how the bundled model calls tools).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from .base import Engine, Job
from .sources import ModelNotFound, resolve_source

log = logging.getLogger(__name__)


def schema_grammar(schema: dict[str, Any]) -> Any:
    """A llama.cpp grammar for ``schema``; any JSON at all when llama.cpp cannot convert the schema
    (the caller still checks the shape of what comes back)."""
    from llama_cpp import LlamaGrammar
    from llama_cpp.llama_grammar import JSON_GBNF

    try:
        return LlamaGrammar.from_json_schema(json.dumps(schema), verbose=False)
    except Exception as exc:
        log.warning("NEXUS: llama.cpp cannot follow this JSON schema (%s); asking for any JSON", exc)
        return LlamaGrammar.from_string(JSON_GBNF, verbose=False)


class LlamaCppEngine(Engine):
    """Routing-file provider keys used: ``model`` (the GGUF), ``device``; options ``n_ctx``, ``threads``."""

    backend = "llama_cpp"
    llm: Any = None
    threads = 1

    def _load(self) -> None:
        import llama_cpp

        directory, gguf = resolve_source(self.source)
        if gguf is None:
            raise ModelNotFound(f"the llama_cpp backend needs a .gguf file, not {self.source!r}")
        path = Path(directory) / gguf
        if not path.is_file():
            raise ModelNotFound(f"no model file at {path.name}")
        offload = self.requested_device in ("auto", "cuda") and bool(llama_cpp.llama_supports_gpu_offload())
        if self.requested_device == "cuda" and not offload:
            raise ModelNotFound("device cuda was asked for, but this llama.cpp build has no GPU support")
        self.device = "cuda" if offload else "cpu"
        # Threads: llama.cpp's default for decoding (half the logical CPUs: the physical cores). Its threads
        # meet at a spinning barrier every layer, so one more thread than there are free cores makes
        # decoding several times slower whenever the kernel or the server needs the CPU too.
        # The prompt uses the same count (llama.cpp's default there is every logical CPU).
        self.threads = threads = int(self.options.get("threads") or max(1, (os.cpu_count() or 2) // 2))
        self.llm = llama_cpp.Llama(
            model_path=str(path),
            n_ctx=int(self.options.get("n_ctx") or 4096),
            n_threads=threads,
            n_threads_batch=threads,
            n_gpu_layers=-1 if offload else 0,
            verbose=False,
        )

    def _run(self, job: Job) -> None:
        request = job.request
        kwargs: dict[str, Any] = {
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "repeat_penalty": request.repetition_penalty,
            "stream": True,
        }
        if request.json_schema is not None:
            kwargs["grammar"] = schema_grammar(request.json_schema)
        if request.prompt is not None:
            chunks = self.llm.create_completion(request.prompt, **kwargs)
        else:
            chunks = self.llm.create_chat_completion([m.as_dict() for m in request.messages], **kwargs)
        produced, reason = 0, "stop"
        try:
            for chunk in chunks:
                choice = chunk["choices"][0]
                text = choice.get("text") if "text" in choice else (choice.get("delta") or {}).get("content")
                if text:
                    produced += 1  # llama-cpp-python yields one chunk per decoded token
                    if not job.emit(text):
                        break
                if choice.get("finish_reason"):
                    reason = choice["finish_reason"]
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()  # ends llama.cpp's generator now, not at garbage collection
        tokens_in = max(0, int(self.llm.n_tokens) - produced)
        job.finish(tokens_in, produced, "length" if reason == "length" else "stop")
