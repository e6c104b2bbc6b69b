"""Slash commands come from one catalogue: what the classifier parses, what ``/help`` says and what the
chat's command list shows cannot disagree."""

from __future__ import annotations

from nexus_server_ext.chat.intent import IntentClassifier
from nexus_server_ext.chat.slash import BUILTIN, SlashCatalogue


def test_help_names_every_command_with_its_usage() -> None:
    text = SlashCatalogue().help_text()
    for command in BUILTIN:
        assert f"/{command.name}" in text
    assert "/learn PATH|GLOB" in text and "/ask QUESTION" in text


def test_the_classifier_parses_exactly_the_catalogue() -> None:
    classifier = IntentClassifier()
    for command in BUILTIN:
        intent = classifier.parse_slash(f"/{command.name.upper()} some words")
        assert intent is not None and (intent.name, intent.command) == (command.intent, command.name)
        assert intent.text == "some words"
    assert classifier.parse_slash("/nosuch thing") is None


def test_a_plugin_command_joins_the_catalogue_but_never_replaces_a_builtin() -> None:
    classifier = IntentClassifier()
    classifier.register("/summarize", "summarize", description="Summarize the notebook")
    classifier.register("/fix", "summarize")
    assert classifier.slash["summarize"] == "summarize" and classifier.slash["fix"] == "fix"
    listed = {c.name: c for c in classifier.commands}
    assert listed["summarize"].source == "plugin-intent" and listed["fix"].source == "nexus"
    assert "/summarize" in classifier.commands.help_text()


def test_a_bare_command_asks_its_default_request() -> None:
    catalogue = SlashCatalogue()
    assert catalogue.default_request("explain") == "Explain this code."
    assert catalogue.default_request("chat") == ""
