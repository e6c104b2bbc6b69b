"""The mapper on transcripts as Whisper actually produced them from synthetic speech (no audio here)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nexus_server_ext.ai.embeddings import Embedder
from nexus_server_ext.commands import Command, builtin_registry
from nexus_server_ext.handlers.voice import decision_out
from nexus_server_ext.voice.mapper import VoiceCommandMapper, normalise, strip_fillers


@pytest.fixture(scope="module")
def mapper() -> VoiceCommandMapper:
    return VoiceCommandMapper(registry=builtin_registry(), embedder=Embedder())


# Misrecognitions observed from tiny.en on espeak-ng audio, and what the user meant.
MISHEARD = [
    ("We'll start the kernel.", "restart-kernel"),
    ("Same for Notebook.", "save"),
    ("and the cell below.", "insert-cell-below"),
    ("I got cell below.", "insert-cell-below"),
    ("Run all failed.", "run-all"),
    ("insert a sample above", "insert-cell-above"),
    ("Please save the notebook.", "save"),
    ("execute the cell", "run-cell"),
    ("show me the chat", "open-chat"),
    ("what went wrong?", "explain-error"),
    ("and do.", "undo"),
    ("I'll do that.", "undo"),
    ("Right code, read the CSV file.", "generate"),
]


@pytest.mark.parametrize(("heard", "meant"), MISHEARD)
def test_asr_errors_still_find_the_command(mapper: VoiceCommandMapper, heard: str, meant: str) -> None:
    match = mapper.match_text(heard)
    assert match.command is not None and match.command.name == meant, (heard, match)
    assert match.action in ("run", "confirm")


@pytest.mark.parametrize(
    "heard",
    [
        "The weather is lovely today.",
        "I like pizza",
        "what time is it",
        "Thank you.",
        "[Music]",
        "",
        "Do-do-do-do.",
    ],
)
def test_chatter_and_hallucinations_map_to_nothing(mapper: VoiceCommandMapper, heard: str) -> None:
    match = mapper.match_text(heard)
    assert match.action == "none" and match.command is None


def test_destructive_commands_always_ask(mapper: VoiceCommandMapper) -> None:
    for heard in ("delete this cell", "restart the kernel"):
        match = mapper.match_text(heard)
        assert match.action == "confirm" and match.reason == "destructive"


def test_doubtful_matches_ask_instead_of_acting(mapper: VoiceCommandMapper) -> None:
    match = mapper.match_text("run this tail")  # run cell? run all?
    assert match.action == "confirm" and match.reason in ("low_confidence", "ambiguous")


def test_text_commands_take_the_rest_of_the_utterance(mapper: VoiceCommandMapper) -> None:
    match = mapper.match_text("Generate code that sorts a list of numbers.")
    assert match.command is not None and match.command.intent == "generate"
    assert match.text == "sorts a list of numbers" and match.action == "run"
    assert mapper.match_text("ask").command is None or mapper.match_text("ask").command.name != "ask"


def test_plugin_commands_are_matched_once_registered() -> None:
    registry = builtin_registry()
    mapper = VoiceCommandMapper(registry=registry, embedder=Embedder())
    assert mapper.match_text("toggle line numbers").action == "none"
    registry.register(
        Command("toggle-lines", "Toggle line numbers", ("toggle line numbers",), lab_command="x:toggle")
    )
    assert mapper.match_text("toggle the line numbers").command.name == "toggle-lines"  # type: ignore[union-attr]
    assert "toggle line numbers" in mapper.prompt_vocabulary()


def test_works_without_embeddings() -> None:
    mapper = VoiceCommandMapper(registry=builtin_registry(), embedder=None)
    assert mapper.match_text("save the notebook").command.name == "save"  # type: ignore[union-attr]
    assert mapper.match_text("the weather is lovely").action == "none"


def test_normalisation() -> None:
    assert normalise("[Music] Run THIS cell!") == "run this cell"
    assert strip_fillers("hey nexus please save the notebook for me") == "save the notebook"


def test_the_decisions_the_frontend_tests_act_on_are_the_mappers(mapper: VoiceCommandMapper) -> None:
    """``labextension/test/voice.test.ts`` runs (or confirms, or cancels) from these replies: they must
    stay what the server answers (the confidence and the runners-up may move a little; what is acted on
    may not)."""
    fixture = (
        Path(__file__).resolve().parents[2] / "labextension" / "test" / "fixtures" / "voice-replies.json"
    )
    for text, reply in json.loads(fixture.read_text(encoding="utf-8")).items():
        decided = decision_out(mapper.match_text(text)).model_dump(mode="json")
        for kept in (decided, reply["command"]):
            for moves in ("confidence", "alternatives"):
                kept.pop(moves)
        assert decided == reply["command"], text
