"""``backend: llama_cpp``: a GGUF served by llama.cpp (llama-cpp-python), one sequence at a time.

llama.cpp runs the bundled quantised model about five times faster than
transformers (which dequantises it to fp32) and loads it in a fraction of a
second, so it is the default for ``.gguf`` files. With a CUDA build of
llama.cpp the layers are offloaded to the GPU (``device: cuda`` or ``auto``).
The chat template comes from the GGUF itself; llama.cpp also reuses the
longest common prompt prefix between calls, which keeps inline completion fast.
A request with ``json_schema`` is decoded under a grammar made from the schema,
so the output always has that shape (how the bundled model calls tools).

A raw prompt (inline completion) runs a token loop of its own instead of ``create_completion``:
llama-cpp-python reports token probabilities only for a model loaded with ``logits_all`` (logits
for every prompt position: hundreds of MB and a slower prompt), while the loop reads the one row of
logits each token was chosen from, so ``Usage.token_logprobs`` costs a softmax per token. The loop
also lays out a fill-in-the-middle prompt with the model's own markers (``fim.py``) when the request
carries the text after the cursor and the GGUF has them.
"""

from __future__ import annotations

import codecs
import json
import logging
import math
import os
from pathlib import Path
from typing import Any

from ..fim import FimTokens, fim_tokens
from ..types import GenerationRequest, ProviderError, TokenLogprob
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
    """Routing-file provider keys used: ``model`` (the GGUF), ``device``; options ``n_ctx``, ``threads``,
    ``kv_cache`` (``q8_0``, the default, or ``f16``), ``fim`` (False: never use the model's
    fill-in-the-middle markers)."""

    backend = "llama_cpp"
    llm: Any = None
    threads = 1
    fim: FimTokens | None = None

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
        # The KV cache in 8-bit (q8_0, which llama.cpp keeps for the V half only with flash attention):
        # half the memory of f16 (the bundled model at 4,096 tokens: 205 -> 162 MB resident, measured),
        # the same greedy answers on the quality sets, and no slower on CPU.
        kv_cache = str(self.options.get("kv_cache") or "q8_0")
        cache_type = {"q8_0": llama_cpp.GGML_TYPE_Q8_0, "f16": llama_cpp.GGML_TYPE_F16}.get(kv_cache)
        if cache_type is None:
            raise ModelNotFound(f"kv_cache must be q8_0 or f16, not {kv_cache!r}")
        self.llm = llama_cpp.Llama(
            model_path=str(path),
            n_ctx=int(self.options.get("n_ctx") or 4096),
            n_threads=threads,
            n_threads_batch=threads,
            n_gpu_layers=-1 if offload else 0,
            type_k=cache_type,
            type_v=cache_type,
            flash_attn=True,
            verbose=False,
        )
        if self.options.get("fim", True) is not False:
            self.fim = fim_tokens(self.llm.metadata, self._token_id)

    def _token_id(self, text: str) -> int | None:
        """The id of the one vocabulary token spelled ``text`` (a special token), or None."""
        ids = self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)
        if len(ids) == 1 and self.llm._model.token_get_text(ids[0]) == text:
            return int(ids[0])
        return None

    def _run(self, job: Job) -> None:
        request = job.request
        if request.prompt is not None:
            self._continue(job)
            return
        kwargs: dict[str, Any] = {
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "repeat_penalty": request.repetition_penalty,
            "stream": True,
        }
        if request.json_schema is not None:
            kwargs["grammar"] = schema_grammar(request.json_schema)
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

    # -- raw prompts: the token loop --------------------------------------------------------------------
    def prompt_tokens(self, request: GenerationRequest) -> list[int]:
        """The prompt as token ids: fill-in-the-middle when the request has a suffix and the model has
        markers, else the prompt alone. A completion's code (a request with a suffix) is read as text, so
        a marker typed in a cell stays text; any other raw prompt may hold special tokens, as in
        llama.cpp's server (the gateway's ``/v1/completions``)."""
        llm, text = self.llm, request.prompt or ""
        code = request.suffix is not None
        bos = [llm.token_bos()] if llm._model.add_bos_token() and llm.token_bos() >= 0 else []
        before = llm.tokenize(text.encode("utf-8"), add_bos=False, special=not code) if text else []
        if code and self.fim is not None:
            after = llm.tokenize((request.suffix or "").encode("utf-8"), add_bos=False, special=False)
            return bos + self.fim.arrange(before, after)
        return bos + before or [llm.token_bos()]  # an empty prompt: the model starts a text

    def _continue(self, job: Job) -> None:
        import llama_cpp

        request, llm = job.request, self.llm
        prompt = self.prompt_tokens(request)
        room = llm.n_ctx() - len(prompt)
        if room <= 0:
            raise ProviderError("the prompt is longer than the local model's context")
        grammar = schema_grammar(request.json_schema) if request.json_schema is not None else None
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        produced: list[int] = []
        scored: list[TokenLogprob] | None = [] if request.logprobs else None
        reason = "length"
        tokens = llm.generate(
            prompt, temp=request.temperature, repeat_penalty=request.repetition_penalty, grammar=grammar
        )
        try:
            for token in tokens:
                if llama_cpp.llama_vocab_is_eog(llm._model.vocab, token):
                    reason = "stop"
                    break
                text = decoder.decode(llm.detokenize([token], prev_tokens=prompt + produced))
                produced.append(token)
                if scored is not None:
                    scored.append(TokenLogprob(text, self._logprob(token)))
                if text and not job.emit(text):
                    break
                if len(produced) >= min(request.max_tokens, room):
                    break
        finally:
            tokens.close()  # the generator ends now: the next request may use the model at once
        job.finish(len(prompt), len(produced), reason, tuple(scored) if scored is not None else None)

    def _logprob(self, token: int) -> float:
        """log P(token) under the logits it was chosen from (the last row llama.cpp computed),
        before any repetition penalty or grammar: how sure the model itself was."""
        import numpy as np

        row = np.ctypeslib.as_array(self.llm._ctx.get_logits_ith(-1), shape=(self.llm.n_vocab(),))
        top = float(row.max())
        return float(row[token]) - top - math.log(float(np.exp(row - top).sum()))

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "fim": self.fim.family if self.fim else None}
