"""``backend: transformers``: safetensors (or dequantised GGUF) models on torch.

Two ways of serving:
- sequential (CPU, or ``batching: false``): one ``generate`` at a time on the
  engine's worker thread, tokens decoded incrementally, cancel checked each step;
- continuous batching (CUDA by default, or ``batching: true``): transformers' own
  ``ContinuousBatchingManager`` (paged KV cache) decodes every running request
  in one forward pass per step, so 32 users cost little more than one. NEXUS
  does not schedule the batch itself; it registers a result handler per request
  and feeds each stream through the same text guards as every other backend.
On CUDA the weights are bf16 (fp16 where bf16 is not supported).
A request's ``json_schema`` is ignored (no constrained decoding here): the answer
is plain text, which the local provider then reads as a text answer.
"""

from __future__ import annotations

import itertools
from typing import Any

from ..types import ProviderError
from .base import Engine, Job
from .sources import resolve_source
from .text import IncrementalDecoder


def pick_device(requested: str = "auto") -> str:
    import torch

    if requested != "auto":
        return requested
    return "cuda" if torch.cuda.is_available() else "cpu"


class TransformersEngine(Engine):
    """Options: ``batching`` (default: on for CUDA), ``max_batch`` (sequences decoded together)."""

    backend = "transformers"
    model: Any = None
    tokenizer: Any = None
    manager: Any = None
    _ids = itertools.count()

    def _load(self) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        directory, gguf = resolve_source(self.source)
        kwargs: dict[str, Any] = {"gguf_file": gguf} if gguf else {}
        self.device = pick_device(self.requested_device)
        self.tokenizer = AutoTokenizer.from_pretrained(directory, **kwargs)
        if self.device == "cuda":
            kwargs["dtype"] = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        model: Any = AutoModelForCausalLM.from_pretrained(directory, **kwargs)
        self.model = model.to(self.device).eval()
        batching = self.options.get("batching")
        if batching if batching is not None else self.device == "cuda":
            self._start_batching()

    def _start_batching(self) -> None:
        from transformers import GenerationConfig
        from transformers.generation import ContinuousBatchingConfig

        max_batch = int(self.options.get("max_batch") or 64)
        config = GenerationConfig(
            max_new_tokens=512,
            do_sample=False,
            repetition_penalty=None,
            eos_token_id=self.tokenizer.eos_token_id,
            pad_token_id=self.tokenizer.pad_token_id or self.tokenizer.eos_token_id,
        )
        self.manager = self.model.init_continuous_batching(
            generation_config=config,
            continuous_batching_config=ContinuousBatchingConfig(max_requests_per_batch=max_batch),
        )
        self.manager.start()
        self.slots = max_batch  # type: ignore[misc]  # an instance value: this engine decodes a batch

    def encode(self, request: Any) -> list[int]:
        tok = self.tokenizer
        if request.prompt is not None:
            return list(tok(request.prompt)["input_ids"])
        messages = [m.as_dict() for m in request.messages]
        if tok.chat_template:
            ids = tok.apply_chat_template(messages, add_generation_prompt=True, return_dict=True)
            return list(ids["input_ids"])
        text = "\n".join(f"{m['role']}: {m['content']}" for m in messages) + "\nassistant:"
        return list(tok(text)["input_ids"])

    # -- sequential -----------------------------------------------------------------------------------
    def _run(self, job: Job) -> None:
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList

        request = job.request
        ids = torch.tensor([self.encode(request)], device=self.device)
        decoder = IncrementalDecoder(self.tokenizer)
        state = {"first": True, "stopped": False}

        class Streamer:  # transformers' streamer protocol: put(new ids), end()
            def put(self, value: Any) -> None:
                if state["first"]:  # the first call carries the prompt
                    state["first"] = False
                    return
                text = decoder.push([int(t) for t in value.reshape(-1).tolist()])
                if text and not job.emit(text):
                    state["stopped"] = True

            def end(self) -> None:
                pass

        class Stop(StoppingCriteria):  # read once per token step: cancel, stop sequence or loop
            def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
                done = state["stopped"] or job.cancel.is_set()
                return torch.full((input_ids.shape[0],), done, dtype=torch.bool, device=input_ids.device)

        sample = request.temperature > 0
        kwargs: dict[str, Any] = {"do_sample": sample, "repetition_penalty": request.repetition_penalty}
        if sample:
            kwargs["temperature"] = request.temperature
        else:  # silence the "temperature is ignored" warnings of the model's generation config
            kwargs.update(temperature=None, top_p=None, top_k=None)
        with torch.inference_mode():
            out = self.model.generate(
                ids,
                attention_mask=torch.ones_like(ids),
                max_new_tokens=request.max_tokens,
                streamer=Streamer(),
                stopping_criteria=StoppingCriteriaList([Stop()]),
                pad_token_id=self.tokenizer.pad_token_id or self.tokenizer.eos_token_id,
                **kwargs,
            )
        produced = int(out.shape[1] - ids.shape[1])
        job.finish(int(ids.shape[1]), produced, "length" if produced >= request.max_tokens else "stop")

    # -- continuous batching ----------------------------------------------------------------------------
    def _submit(self, job: Job) -> None:
        if self.manager is None:
            super()._submit(job)
            return
        request_id = f"nexus-{next(self._ids)}"
        decoder = IncrementalDecoder(self.tokenizer)
        seen, closed = 0, False
        max_tokens = job.request.max_tokens

        def close() -> None:  # exactly once per job, whichever way it ends
            nonlocal closed
            if not closed:
                closed = True
                self._done(job, 0.0)

        def on_output(output: Any) -> None:  # runs on the caller's event loop
            nonlocal seen
            if closed:
                return
            if output.error:
                job.push(ProviderError(f"local generation failed ({output.error[:80]})"))
                close()
                return
            new, seen = output.generated_tokens[seen:], len(output.generated_tokens)
            text = decoder.push([int(t) for t in new]) if new else ""
            if text and not job.emit(text):
                self.manager.cancel_request(request_id)
            elif not output.is_finished():
                return
            job.finish(len(output.prompt_ids), seen, "length" if seen >= max_tokens else "stop")
            close()

        def cancel() -> None:
            if not closed:
                self.manager.cancel_request(request_id)
                close()

        job.on_cancel = cancel
        self.manager.register_result_handler(request_id, on_output)  # delivered on this event loop
        self.manager.add_request(
            self.encode(job.request), request_id=request_id, max_new_tokens=max_tokens, streaming=True
        )
