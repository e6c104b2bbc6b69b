"""Inline completion, right or silent: the prompt, the FIM template, the clean-up and the confidence gate.

The engine tests use the real bundled SmolLM2 (llama.cpp); the FIM template is chosen from real GGUF
files: the bundled one (no markers) and small ones written with the ``gguf`` package.
"""

from __future__ import annotations

from contextlib import aclosing
from pathlib import Path
from typing import Any

import gguf
import pytest

from nexus_server_ext.ai.completion import CompletionGate, completion_prompt, confidence
from nexus_server_ext.ai.engines.sources import bundled_gguf
from nexus_server_ext.ai.fim import FimTokens, fim_tokens, gguf_fim_tokens
from nexus_server_ext.ai.pipeline import AIPipeline
from nexus_server_ext.ai.router import ModelRouter
from nexus_server_ext.ai.routing import RoutingError, parse_routing
from nexus_server_ext.ai.types import Delta, GenerationRequest, TokenLogprob, Usage

SMOLLM = "SmolLM2-135M-Instruct"


def write_gguf(path: Path, tokens: list[str], **ids: int) -> Path:
    """A GGUF holding only a tokenizer: ``tokens`` as its vocabulary, ``ids`` as metadata key/values."""
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_tokenizer_model("gpt2")
    writer.add_token_list(tokens)
    for key, value in ids.items():
        writer.add_uint32(f"tokenizer.ggml.{key}", value)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


# -- the fill-in-the-middle template ---------------------------------------------------------------
def test_a_model_with_fim_tokens_in_its_vocabulary_gets_its_template(tmp_path: Path) -> None:
    qwen = ["<|endoftext|>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "<|fim_pad|>", "def"]
    found = gguf_fim_tokens(write_gguf(tmp_path / "qwen.gguf", qwen))
    assert found == FimTokens("qwen2.5-coder / codegemma", prefix=1, suffix=3, middle=2)
    assert found.arrange([10, 11], [12]) == [1, 10, 11, 3, 12, 2]  # prefix, suffix, then the middle

    starcoder = ["<|endoftext|>", "<fim_prefix>", "<fim_middle>", "<fim_suffix>", "<fim_pad>"]
    assert gguf_fim_tokens(write_gguf(tmp_path / "starcoder.gguf", starcoder)) == FimTokens(
        "starcoder", 1, 3, 2
    )


def test_the_markers_the_gguf_metadata_names_win(tmp_path: Path) -> None:
    tokens = ["<s>", "<PRE>", "<SUF>", "<MID>", "<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>"]
    path = write_gguf(tmp_path / "m.gguf", tokens, fim_pre_token_id=1, fim_suf_token_id=2, fim_mid_token_id=3)
    assert gguf_fim_tokens(path) == FimTokens("gguf metadata", 1, 2, 3)


def test_a_vocabulary_with_only_some_markers_has_no_template() -> None:
    vocabulary = {"<|fim_prefix|>": 5, "<|fim_suffix|>": 6}  # no middle marker
    assert fim_tokens({}, vocabulary.get) is None


def test_the_bundled_model_has_no_fim_template() -> None:
    assert gguf_fim_tokens(bundled_gguf()) is None


def test_the_bundled_engine_continues_a_plain_prompt(local_engine: Any) -> None:
    assert local_engine.fim is None and local_engine.describe()["fim"] is None
    request = GenerationRequest(prompt="def is_even(n):\n    return", suffix="\n\nprint(1)")
    tokens = local_engine.prompt_tokens(request)
    llm = local_engine.llm
    assert tokens == llm.tokenize(b"def is_even(n):\n    return", add_bos=False, special=False)
    assert llm.detokenize(tokens).decode() == "def is_even(n):\n    return"  # the suffix is not in it


def test_an_engine_with_markers_lays_out_the_fim_prompt(local_engine: Any, monkeypatch: Any) -> None:
    markers = FimTokens("test", 1, 2, 3)
    monkeypatch.setattr(local_engine, "fim", markers)
    llm = local_engine.llm
    before = llm.tokenize(b"x = max(", add_bos=False, special=False)
    after = llm.tokenize(b")", add_bos=False, special=False)
    request = GenerationRequest(prompt="x = max(", suffix=")")
    assert local_engine.prompt_tokens(request) == [1, *before, 2, *after, 3]
    # a marker typed in the cell stays text: it is not the model's special token
    typed = GenerationRequest(prompt="s = '<|im_end|>'", suffix="")
    assert 2 not in local_engine.prompt_tokens(typed)[1:-2]


# -- token probabilities from the engine -----------------------------------------------------------
async def test_the_engine_reports_each_tokens_probability(local_engine: Any) -> None:
    request = GenerationRequest(
        prompt="def add(a, b):\n    return", suffix="", max_tokens=12, stop=["\n"], logprobs=True
    )
    items = [i async for i in local_engine.stream(request)]
    usage = items[-1]
    assert isinstance(usage, Usage) and usage.token_logprobs
    text = "".join(i.text for i in items if isinstance(i, Delta))
    written = "".join(t.text for t in usage.token_logprobs)
    assert written.startswith(text) and text.strip() == "a + b"
    assert all(t.logprob <= 0.0 for t in usage.token_logprobs)
    assert usage.tokens_out == len(usage.token_logprobs)
    plain = [i async for i in local_engine.stream(GenerationRequest(prompt="x = 1", max_tokens=2))]
    assert plain[-1].token_logprobs is None  # not asked for


# -- the prompt and the clean-up -------------------------------------------------------------------
def test_the_prompt_drops_the_trailing_space_and_stops_at_the_end_of_the_line() -> None:
    prompt = completion_prompt("def is_even(n):\n    return ", "", path="maths.ipynb")
    assert prompt.text == "# maths.ipynb\ndef is_even(n):\n    return" and prompt.healed == " "
    assert prompt.stop == ["\n"] and not prompt.block
    assert prompt.clean(" n % 2 == 0") == "n % 2 == 0"
    body = completion_prompt("def count(text):\n    ")
    assert body.block and body.text.endswith("\n   ")  # one space less: the model writes " return"
    assert body.clean(" return len(text)\nprint(count('a b'))") == "return len(text)"  # a dedent ends it


def test_the_prompt_holds_the_most_recent_earlier_cells() -> None:
    cells = ["import pandas as pd", "x" * 5000, 'df = pd.DataFrame({"t": [1]})', "  "]
    prompt = completion_prompt('df["t"].', cells=cells)
    assert prompt.text == 'df = pd.DataFrame({"t": [1]})\n\ndf["t"].'  # the huge cell ended the context


def test_a_completion_that_repeats_part_of_the_line_can_be_right() -> None:
    prompt = completion_prompt("warm = df[")
    assert prompt.clean('df["temp"] > 10]') == 'df["temp"] > 10]'
    assert completion_prompt("def area(r):\n    return ").clean("    return 3.14 * r * r") == "3.14 * r * r"


def test_a_completion_never_carries_a_code_fence() -> None:
    prompt = completion_prompt("def f(x):\n    return ")
    for raw in (" x + 1```", " x + 1\n```", "```python\nx + 1\n```", " x```\n"):
        assert "```" not in prompt.clean(raw)


# -- the confidence and the gate -------------------------------------------------------------------
def test_the_confidence_is_the_least_likely_kept_token() -> None:
    tokens = [
        TokenLogprob(" x", -0.1),
        TokenLogprob(" +", -0.5),
        TokenLogprob(" 1", -0.2),
        TokenLogprob("\n", -3.0),
    ]
    assert confidence(tokens, " x + 1\n", "x + 1") == pytest.approx(0.6065, abs=1e-3)  # e^-0.5; not "\n"
    assert confidence(None, " x + 1", "x + 1") is None
    assert confidence(tokens, " x + 1\n", "") is None


def test_the_gate_uses_the_models_threshold_and_can_be_turned_off() -> None:
    gate = CompletionGate.from_spec({"enabled": True, "min_confidence": 0.5, "models": {SMOLLM: 0.4}})
    assert gate.shows(SMOLLM, 0.45) and not gate.shows("other-model", 0.45)
    assert gate.shows("gpt-4o-mini", None)  # a remote API reports no probabilities: not gated
    off = CompletionGate.from_spec({"enabled": False, "models": {SMOLLM: 0.9}})
    assert off.shows(SMOLLM, 0.1)
    assert not CompletionGate.from_spec(None).enabled


def routing(gate: dict[str, Any] | None, task: str = "completion") -> Any:
    spec: dict[str, Any] = {"chain": [{"provider": "local", "model": SMOLLM}], "limits": {"max_tokens": 16}}
    if gate is not None:
        spec["gate"] = gate
    raw = {"providers": {"local": {"kind": "local"}}, "tasks": {task: spec}}
    return parse_routing(raw, Path("routing.yaml"))


def test_the_routing_file_checks_the_gate() -> None:
    assert routing({"enabled": True, "models": {SMOLLM: 0.4}}).completion_gate().threshold(SMOLLM) == 0.4
    with pytest.raises(RoutingError, match=r"tasks.completion.gate.min_confidence"):
        routing({"min_confidence": 2})
    with pytest.raises(RoutingError, match=r"tasks.completion.gate.treshold is not a known key"):
        routing({"treshold": 0.5})
    with pytest.raises(RoutingError, match="for the completion task only"):
        routing({"enabled": True}, task="code_generation")


@pytest.mark.parametrize(("threshold", "shown"), [(0.0, True), (1.0, False)])
async def test_the_pipeline_shows_or_suppresses_by_the_threshold(
    local_engine: Any, threshold: float, shown: bool
) -> None:
    pipeline = AIPipeline(ModelRouter(routing({"enabled": True, "models": {SMOLLM: threshold}})))
    events = [e async for e in pipeline.complete_stream("def is_even(n):\n    return ")]
    result = events[-1]
    assert events[:-1] == []  # with the gate on nothing streams: a suggestion never flashes up
    assert result.confidence is not None and 0.0 < result.confidence <= 1.0
    assert result.suppressed is not shown
    assert result.completion == ("n % 2 == 0" if shown else "")


async def test_without_the_gate_the_completion_streams(local_engine: Any) -> None:
    pipeline = AIPipeline(ModelRouter(routing({"enabled": False, "models": {SMOLLM: 1.0}})))
    async with aclosing(pipeline.complete_stream("def add(a, b):\n    return ")) as stream:
        events = [e async for e in stream]
    assert any(isinstance(e, Delta) for e in events)
    assert events[-1].completion == "a + b" and not events[-1].suppressed
