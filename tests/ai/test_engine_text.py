"""The text guards every engine shares: stop sequences across token boundaries, loop detection that
leaves ordinary code alone, and incremental decoding that matches a full decode."""

from __future__ import annotations

import pytest

from nexus_server_ext.ai.engines import resolve_source
from nexus_server_ext.ai.engines.text import IncrementalDecoder, RepetitionGuard, StopScanner


def feed_all(scanner: StopScanner, pieces: list[str]) -> tuple[str, bool]:
    shown = ""
    for piece in pieces:
        text, stopped = scanner.feed(piece)
        shown += text
        if stopped:
            return shown, True
    return shown + scanner.flush(), False


def test_a_stop_sequence_split_across_tokens_is_found_and_never_shown() -> None:
    shown, stopped = feed_all(StopScanner(["\n```"]), ["x = 1", "\n`", "``", "\nmore"])
    assert stopped and shown == "x = 1"


def test_text_that_only_looks_like_a_stop_start_is_released() -> None:
    scanner = StopScanner(["END"])
    assert scanner.feed("the EN") == ("the ", False)  # "EN" may begin "END": held back
    assert scanner.feed("D? no, ENDLESS")[1] is True
    shown, stopped = feed_all(StopScanner(["END"]), ["the EN", "GINE"])
    assert not stopped and shown == "the ENGINE"


def test_no_stop_sequences_means_nothing_is_held() -> None:
    assert StopScanner([]).feed("abc") == ("abc", False)


def guard_trips(text: str, step: int = 3) -> bool:
    guard = RepetitionGuard()
    return any(guard.feed(text[i : i + step]) for i in range(0, len(text), step))


def test_a_repeated_sentence_loop_is_detected() -> None:
    assert guard_trips("x[10] is a list of the first 10 integers. " * 3)


def test_a_repeated_paragraph_is_detected() -> None:
    paragraph = "This function adds two numbers and returns the result to the caller.\n\n"
    assert guard_trips("Intro.\n\n" + paragraph + "Other words here.\n\n" + paragraph)


def test_ordinary_code_with_repeated_short_lines_is_left_alone() -> None:
    code = (
        "def f(x):\n    if x:\n        return x\n    return 0\n\n"
        "def g(y):\n    if y:\n        return y\n    return 0\n\n"
        "print(f(1))\nprint(g(2))\nprint(f(3))\n"
    )
    assert not guard_trips(code)


@pytest.fixture(scope="module")
def tokenizer() -> object:
    from transformers import AutoTokenizer

    directory, gguf = resolve_source("")
    return AutoTokenizer.from_pretrained(directory, gguf_file=gguf)


@pytest.mark.parametrize(
    "text",
    [
        "def naïve_mean(xs):\n    return sum(xs) / len(xs)  # café ☕ 🚀\n",
        "Ünïcödé 日本語のテキスト and emoji 👩‍💻 in one line",
    ],
)
def test_incremental_decoding_equals_a_full_decode(tokenizer: object, text: str) -> None:
    ids = tokenizer.encode(text)  # type: ignore[attr-defined]
    decoder = IncrementalDecoder(tokenizer)
    pieces = [decoder.push([i]) for i in ids]
    assert "".join(pieces) == tokenizer.decode(ids, skip_special_tokens=True)  # type: ignore[attr-defined]
    assert not any("\ufffd" in p for p in pieces)  # never half a character on screen
    assert sum(1 for p in pieces if p) > len(ids) // 2  # streamed as it goes, not at the end
