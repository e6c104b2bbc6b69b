"""The intent classifier: slash commands, and accuracy of the model-free classifier on labelled requests."""

from __future__ import annotations

from typing import Any

import pytest

from nexus_server_ext.chat.intent import IntentClassifier

from .intent_labels import HELD_OUT, LABELLED


@pytest.fixture(scope="module")
def classifier() -> IntentClassifier:
    return IntentClassifier()


def accuracy(classifier: IntentClassifier, labelled: list[tuple[str, str]]) -> tuple[float, list[Any]]:
    wrong = []
    ranked = classifier.scores_many([text for text, _ in labelled])
    for (text, label), scores in zip(labelled, ranked, strict=True):
        if scores[0][0] != label:
            wrong.append((text, label, scores[0][0]))
    return 1 - len(wrong) / len(labelled), wrong


def test_accuracy_on_the_labelled_set_is_at_least_90_percent(classifier: IntentClassifier) -> None:
    value, wrong = accuracy(classifier, LABELLED)
    assert value >= 0.9, wrong
    held, wrong = accuracy(classifier, HELD_OUT)
    assert held >= 0.9, wrong


async def test_slash_commands_are_explicit(classifier: IntentClassifier) -> None:
    intent = await classifier.classify("/fix   the loop below")
    assert (intent.name, intent.text, intent.command, intent.method) == (
        "fix",
        "the loop below",
        "fix",
        "slash",
    )
    assert (await classifier.classify("/clear")).name == "command"
    assert (await classifier.classify("/learn src/**/*.py")).text == "src/**/*.py"
    free = await classifier.classify("/unknown is not a command, explain it")  # unknown slash: free text
    assert free.method == "embedding"


async def test_plugins_add_commands_and_examples() -> None:
    classifier = IntentClassifier()
    classifier.register("/plot", "generate", ("draw a chart of the data",))
    assert (await classifier.classify("/plot sales by month")).name == "generate"
    assert "draw a chart of the data" in classifier.examples["generate"]


async def test_the_llm_breaks_near_ties_only_with_a_listed_intent() -> None:
    asked: list[list[str]] = []

    async def tie_breaker(text: str, options: list[str]) -> str | None:
        asked.append(options)
        return options[1]

    classifier = IntentClassifier(margin=1.0, tie_breaker=tie_breaker)  # every input counts as a tie
    intent = await classifier.classify("write tests for the parser")
    assert intent.method == "llm" and intent.name == asked[0][1]

    async def nonsense(text: str, options: list[str]) -> str | None:
        return "launch-rockets"

    fallback = await IntentClassifier(margin=1.0, tie_breaker=nonsense).classify("write tests for the parser")
    assert fallback.method == "embedding" and fallback.name == "test"


def test_batched_and_single_scores_agree(classifier: IntentClassifier) -> None:
    text = "fix the KeyError in this cell"
    single, batched = classifier.scores(text), classifier.scores_many([text, "hello"])[0]
    assert single[0][0] == batched[0][0] == "fix"
    assert abs(single[0][1] - batched[0][1]) < 1e-4


def test_only_a_message_about_an_error_is_sent_with_it() -> None:
    from nexus_server_ext.chat.intent import about_error

    for text in ("/fix", "/explain", "why does this raise?", "fix it", "KeyError again", "it doesn't work"):
        assert about_error(text), text
    for text in ("/explain what groupby does", "What columns does df have?", "plot the sales", "/ask hi"):
        assert not about_error(text), text
