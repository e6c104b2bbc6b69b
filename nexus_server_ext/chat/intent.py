"""``IntentClassifier``: what the user wants, from a slash command or from free text.

Slash commands (``slash.py``) are explicit and win. Free text is classified without a model
call: the bundled MiniLM embeds the message and it is compared with labelled
example phrases per intent (the mean of the best three cosine similarities per
intent, a k-nearest-neighbour vote that tolerates one odd example). Only when
the best two intents are within ``margin`` of each other is the LLM asked to
choose between those two; its answer must name one of them or is ignored.
Plugins add slash commands and example phrases through ``register``.
Settings: ``c.IntentClassifier.margin`` and ``llm_tie_breaker``;
``NexusApp.intent_classifier_class`` replaces the class.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from traitlets import Bool, Float
from traitlets.config import LoggingConfigurable

from .slash import SlashCatalogue

if TYPE_CHECKING:  # the pipeline loads the store; the classifier is imported before it exists
    from ..ai.pipeline import AIPipeline

log = logging.getLogger(__name__)

INTENTS = ("chat", "generate", "explain", "fix", "refactor", "test", "learn", "command")

EXAMPLES: dict[str, tuple[str, ...]] = {
    "chat": (
        "what is the difference between a list and a tuple",
        "how does garbage collection work in python",
        "what does GIL stand for",
        "which library should I use for plotting",
        "hello, who are you",
        "thanks, that helped",
        "what is a pandas DataFrame",
        "when should I use asyncio instead of threads",
        "can you recommend a good book about statistics",
        "what is the time complexity of sorting",
        "is numpy faster than plain python loops",
        "what are decorators good for",
    ),
    "generate": (
        "write a function that reverses a string",
        "generate code to load a csv file into a dataframe",
        "create a class for a bank account with deposit and withdraw",
        "write a script that downloads a web page",
        "give me code to plot a histogram of the ages",
        "implement binary search",
        "make a function that computes the fibonacci sequence",
        "write python code that reads json from a file",
        "code a simple http server",
        "build a function to merge two sorted lists",
        "write a regex that matches email addresses",
        "create a loop that prints the numbers from 1 to 10",
    ),
    "explain": (
        "explain this code",
        "what does this function do",
        "explain what this cell does line by line",
        "walk me through this code",
        "why does this code print twice",
        "help me understand this list comprehension",
        "what is this regular expression matching",
        "describe what this class is for",
        "explain this error message",
        "what does this traceback mean",
        "how does this snippet work",
        "break down this function for me",
    ),
    "fix": (
        "fix this error",
        "my code throws a KeyError, fix it",
        "this cell fails with a TypeError",
        "why is this crashing, please repair it",
        "the function returns the wrong result, fix the bug",
        "debug this code",
        "I get IndexError list index out of range",
        "correct the syntax error in this cell",
        "it raises ValueError when I run it",
        "fix the failing import",
        "this loop never terminates, fix it",
        "resolve the NameError in my notebook",
    ),
    "refactor": (
        "refactor this function",
        "clean up this code",
        "make this code more readable",
        "simplify this function",
        "rename the variables to be more descriptive",
        "split this long function into smaller ones",
        "rewrite this loop as a list comprehension",
        "improve the structure of this class",
        "remove the duplicated code",
        "make this code more pythonic",
        "optimize this code for speed",
        "convert this script into functions",
    ),
    "test": (
        "write tests for this function",
        "generate unit tests",
        "add pytest tests for this class",
        "create test cases for the parser",
        "write a unit test that checks the edge cases",
        "how would I test this code",
        "add assertions to check this works",
        "test this function with pytest",
        "write doctests for this function",
        "cover this module with tests",
        "make a test for the empty input case",
        "write tests that mock the database",
    ),
    "learn": (
        "learn the files in this folder",
        "index my project",
        "read the src directory and remember it",
        "learn from the docs folder",
        "index all the python files",
        "remember the contents of this repository",
        "add these notebooks to your memory",
        "scan my codebase so you can answer questions about it",
        "study the files in the data folder",
        "memorize the README",
        "index the documentation",
        "learn this project",
    ),
    "command": (
        "clear the conversation",
        "start over",
        "reset the chat",
        "show help",
        "what commands are there",
        "forget everything we said",
        "list the available commands",
        "new conversation",
        "clear the history",
        "help",
        "show me what you can do",
        "wipe this chat",
    ),
}


# Cue words: the embedding knows topics well but verbs poorly ("write a function" vs "write tests
# for a function"); a small boost for an intent's tell-tale words fixes most of those confusions.
CUES: dict[str, str] = {
    "chat": r"^(what is|what are|what's|why is|how do|how does|which|tell me about|hello|hi|good (morning|evening)|thanks)\b",  # noqa: E501
    "generate": r"^(write|generate|create|implement|make|build|code|give me)\b(?!.*\b(tests?|unit ?tests?|pytest)\b)",  # noqa: E501
    "explain": r"\b(explain|what does (this|the)|walk me through|help me understand|describe|what is this)\b|\bmeans?\W*$",  # noqa: E501
    "fix": r"\b(fix|bug|debug|repair|correct|crash\w*|fails?|broken|\w+error|exception|raises?|throws?)\b",
    "refactor": r"\b(refactor|clean ?up|tidy|simplify|readable|rename|restructure|idiomatic|pythonic|rewrite|duplicat\w*|speed up|optimi[sz]e)\b",  # noqa: E501
    "test": r"\b(tests?|unit ?tests?|pytest|unittest|doctests?|test cases?|coverage|assert\w*)\b",
    "learn": r"\b(learn|index|memori[sz]e|remember the|to (your )?memory|codebase|code base|repository)\b",
    "command": r"^(clear|reset|help|start (over|a new)|new (chat|conversation)|forget|erase|wipe|list commands)\b|\bcommands\b",  # noqa: E501
}
CUE_BOOST = 0.12


@dataclass(frozen=True)
class Intent:
    name: str
    text: str  # the message without its slash command
    command: str | None = None  # the slash command used, if any
    confidence: float = 1.0
    method: str = "slash"  # slash | embedding | llm
    alternatives: tuple[tuple[str, float], ...] = ()


# A message about an error: what it is, why it happened, how to fix it. Only such a message is sent
# with the kernel's last error; an old error is not the subject of every later question.
_ABOUT_ERROR = re.compile(
    r"\b(errors?|exceptions?|traceback|raise[sd]?|raising|fail(s|ed|ing|ure)?|crash(es|ed|ing)?|broken"
    r"|bugs?|fix(es|ed|ing)?|wrong|\w+(Error|Exception))\b|\b(does ?n[o']t|not) work",
    re.IGNORECASE,
)


def about_error(message: str) -> bool:
    """Whether a chat message asks about an error (``/fix``, ``/explain`` alone, or words that say so);
    labextension/src/chat/context.ts applies the same rule to show the "Last error" chip."""
    text = message.strip()
    if text.startswith("/fix") or text == "/explain":
        return True
    return bool(_ABOUT_ERROR.search(text))


TieBreaker = Callable[[str, list[str]], Awaitable[str | None]]


class IntentClassifier(LoggingConfigurable):
    margin = Float(
        0.02, help="When the two likeliest intents score within this margin, the LLM breaks the tie."
    ).tag(config=True)
    llm_tie_breaker = Bool(
        True, help="Ask the LLM to break near-ties between intents (off: the embedding's choice stands)."
    ).tag(config=True)

    def __init__(self, tie_breaker: TieBreaker | None = None, **kwargs: Any) -> None:
        """``tie_breaker``: asks a model to choose (``llm_tie_breaker(pipeline)``), used while the
        ``llm_tie_breaker`` setting is on; ``kwargs``: ``parent``/``config`` or the settings."""
        super().__init__(**kwargs)
        self.tie_breaker = tie_breaker
        self.commands = SlashCatalogue()
        self.examples = {k: list(v) for k, v in EXAMPLES.items()}
        self._matrix: list[tuple[str, list[float]]] | None = None
        self._lock = threading.Lock()

    def register(
        self, command: str | None, intent: str, examples: tuple[str, ...] = (), description: str = ""
    ) -> None:
        """Plugins: a new slash command and/or example phrases for an intent."""
        if command:
            self.commands.register(command, intent, description)
        if examples:
            with self._lock:
                self.examples.setdefault(intent, []).extend(examples)
                self._matrix = None

    @property
    def slash(self) -> dict[str, str]:
        """Slash command name -> intent (the catalogue's)."""
        return self.commands.intents()

    def parse_slash(self, text: str) -> Intent | None:
        stripped = text.strip()
        if not stripped.startswith("/"):
            return None
        head, _, rest = stripped[1:].partition(" ")
        command = self.commands.get(head)
        if command is None:
            return None
        return Intent(command.intent, rest.strip(), command=command.name)

    # -- the embedding classifier (blocking) ----------------------------------------------------
    def _examples_matrix(self) -> list[tuple[str, list[float]]]:
        from ..ai.embeddings import get_embedder

        with self._lock:
            if self._matrix is None:
                pairs = [(intent, phrase) for intent, phrases in self.examples.items() for phrase in phrases]
                vectors = list(get_embedder().embed_sync([p for _, p in pairs]))
                self._matrix = [(intent, v) for (intent, _), v in zip(pairs, vectors, strict=True)]
            return self._matrix

    def scores(self, text: str) -> list[tuple[str, float]]:
        """(intent, score) best first; score = mean of the three best cosine similarities + cue boost."""
        return self.scores_many([text])[0]

    def scores_many(self, texts: list[str]) -> list[list[tuple[str, float]]]:
        """``scores`` for several texts with one batched embedding call (evaluation, voice batches)."""
        import numpy as np

        from ..ai.embeddings import get_embedder

        matrix = self._examples_matrix()
        labels = [intent for intent, _ in matrix]
        queries = get_embedder().embed_sync([t[:2000] for t in texts])
        sims = np.asarray([v for _, v in matrix]) @ np.asarray(queries).T
        out = []
        for column, text in enumerate(texts):
            per_intent: dict[str, list[float]] = {}
            for intent, sim in zip(labels, sims[:, column], strict=True):
                per_intent.setdefault(intent, []).append(float(sim))
            lowered = text.lower().strip()
            scored = [
                (i, float(np.mean(sorted(s, reverse=True)[:3])) + CUE_BOOST * self._cue(i, lowered))
                for i, s in per_intent.items()
            ]
            out.append(sorted(scored, key=lambda p: p[1], reverse=True))
        return out

    @staticmethod
    def _cue(intent: str, text: str) -> bool:
        pattern = CUES.get(intent)
        return bool(pattern and re.search(pattern, text))

    async def classify(self, text: str) -> Intent:
        explicit = self.parse_slash(text)
        if explicit is not None:
            return explicit
        ranked = await asyncio.to_thread(self.scores, text)
        (best, top), (second, runner_up) = ranked[0], ranked[1]
        alternatives = tuple((i, round(s, 4)) for i, s in ranked[:3])
        if top - runner_up < self.margin and self.tie_breaker is not None and self.llm_tie_breaker:
            try:
                choice = await self.tie_breaker(text, [best, second])
            except Exception:  # the tie-breaker is an optimisation; the embedding answer stands
                log.info("NEXUS intent tie-breaker failed", exc_info=True)
                choice = None
            if choice in (best, second):
                return Intent(choice, text, confidence=round(top, 4), method="llm", alternatives=alternatives)
        return Intent(best, text, confidence=round(top, 4), method="embedding", alternatives=alternatives)


def llm_tie_breaker(pipeline: AIPipeline) -> TieBreaker:
    """Ask the natural-language chain to pick one of two intents (a few tokens, temperature 0).

    Through the pipeline, so the question is recorded like every model call (intent ``tie_breaker``)."""
    from ..ai.types import ChatMessage

    async def choose(text: str, options: list[str]) -> str | None:
        prompt = (
            f"Classify the request into one of: {', '.join(options)}. Answer with one word.\n\n"
            f"Request: {text[:500]}\nAnswer:"
        )
        messages = [ChatMessage("user", prompt)]
        result = await pipeline.generate(
            "natural_language", messages=messages, max_tokens=4, intent="tie_breaker"
        )
        words = result.text.strip().lower().split()
        first = words[0].strip(".,:;'\"") if words else ""
        return first if first in options else None

    return choose
