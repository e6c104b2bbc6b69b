"""From what Whisper heard to a command in the registry, or, when in doubt, to nothing at all.

Whisper mishears short commands ("save the notebook" -> "same for notebook",
"restart the kernel" -> "we'll start the kernel"), so a transcript is scored
against every phrase of every registered command (built-ins and plugins) by
two measures that fail differently: character-level fuzzy similarity
(rapidfuzz), which forgives misheard sounds, and MiniLM sentence-embedding
similarity, which forgives rephrasing. Below ``accept_threshold`` the user is
asked to confirm; below ``confirm_threshold`` nothing happens. Destructive
commands are always confirmed. Silence, noise and Whisper's well-known
hallucinations on non-speech ("thank you", "thanks for watching") never
become a command.
"""

from __future__ import annotations

import asyncio
import re
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from traitlets import Float, Instance
from traitlets.config import LoggingConfigurable

from ..ai.embeddings import Embedder, EmbeddingsUnavailable
from ..commands import Command, CommandRegistry

if TYPE_CHECKING:
    import numpy as np

    from .transcriber import Transcript

Action = Literal["run", "confirm", "none"]

FILLER_PREFIXES = (
    "hey nexus",
    "ok nexus",
    "okay nexus",
    "nexus",
    "okay",
    "ok",
    "please",
    "can you",
    "could you",
    "would you",
    "now",
    "and",
    "so",
)
FILLER_SUFFIXES = ("please", "for me", "now", "thanks", "thank you")
FUNCTION_WORDS = frozenset({"the", "a", "an", "this", "that", "my", "current", "to", "of", "it"})
# What Whisper writes for silence, breath, music and noise (it was trained on subtitles).
HALLUCINATIONS = frozenset(
    {
        "",
        "you",
        "thank you",
        "thanks",
        "thank you very much",
        "thanks for watching",
        "thank you for watching",
        "please subscribe",
        "subscribe",
        "bye",
        "bye bye",
        "music",
        "applause",
        "laughter",
        "silence",
        "so",
        "oh",
        "uh",
        "um",
        "hmm",
        "mm",
        "ah",
        "i",
        "the end",
        "see you next time",
        "i ll see you in the next video",
    }
)


# Command words Whisper hears as other words, seen in its transcripts of short commands. Read as
# the command word before matching (whole words, at the start): "and do" would otherwise lose its
# "and" as a filler and leave "do", which is nothing.
MISHEARD = (
    (re.compile(r"^(?:and|on|an) do\b"), "undo"),
    (re.compile(r"^i ll do that$"), "undo that"),
    (re.compile(r"^(?:right|rite) code\b"), "write code"),
    (re.compile(r"^right a function\b"), "write a function"),
)


def normalise(text: str) -> str:
    """Lower case, words only: 'Run this cell.' -> 'run this cell'; '[Music]' -> ''."""
    text = re.sub(r"\[[^\]]*\]|\([^)]*\)|♪+", " ", text.lower())
    text = re.sub(r"[^a-z0-9]+", " ", text)
    text = " ".join(text.split())
    for heard, meant in MISHEARD:
        text = heard.sub(meant, text)
    return text


def strip_fillers(text: str) -> str:
    changed = True
    while changed and text:
        changed = False
        for prefix in FILLER_PREFIXES:
            if text == prefix or text.startswith(prefix + " "):
                text, changed = text[len(prefix) :].strip(), True
        for suffix in FILLER_SUFFIXES:
            if text.endswith(" " + suffix):
                text, changed = text[: -len(suffix)].strip(), True
    return text


def content_words(text: str) -> str:
    return " ".join(w for w in text.split() if w not in FUNCTION_WORDS) or text


def ratio(a: str, b: str) -> float:
    """rapidfuzz's normalised Indel similarity in [0, 1] (imported on first use: voice is an extra)."""
    from rapidfuzz import fuzz

    return fuzz.ratio(a, b) / 100.0


def fuzzy(a: str, b: str) -> float:
    """Character similarity in [0, 1], also without function words ('save the notebook' ~ 'save notebook')."""
    return max(ratio(a, b), ratio(content_words(a), content_words(b)))


@dataclass
class CommandMatch:
    """The mapper's verdict on one utterance."""

    action: Action
    command: Command | None = None
    confidence: float = 0.0
    text: str | None = None  # the argument of a takes_text command ("sorts a list")
    phrase: str | None = None  # the registered phrase that matched best
    reason: str | None = (
        None  # why not "run": destructive | low_confidence | ambiguous | no_speech | no_match
    )
    alternatives: list[tuple[str, float]] = field(default_factory=list)


@dataclass(frozen=True)
class _Index:
    signature: tuple[Any, ...]
    entries: list[tuple[Command, str]]  # (command, normalised phrase), fixed commands only
    vectors: np.ndarray | None


class VoiceCommandMapper(LoggingConfigurable):
    """Maps transcripts onto ``CommandRegistry`` commands (see the module docstring for the rules)."""

    accept_threshold = Float(
        0.72, help="Confidence at or above which a (non-destructive) command runs without asking."
    ).tag(config=True)
    confirm_threshold = Float(
        0.5, help="Confidence below which an utterance maps to no command at all (between the two: ask)."
    ).tag(config=True)
    ambiguity_margin = Float(
        0.04, help="When the two best commands score closer than this, the user is asked to confirm."
    ).tag(config=True)
    embedding_weight = Float(
        0.5, help="Weight of embedding similarity against fuzzy string similarity (0 disables embeddings)."
    ).tag(config=True)
    spelling_only_confirm_threshold = Float(
        0.62,
        help="confirm_threshold used when embeddings are unavailable: spelling alone lets chatter "
        "score higher, so the bar is raised.",
    ).tag(config=True)
    prefix_threshold = Float(
        0.8, help="How closely the start of an utterance must match 'generate code that' / 'ask' etc."
    ).tag(config=True)

    registry = Instance(CommandRegistry)
    embedder = Instance(Embedder, allow_none=True)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._index: _Index | None = None
        self._lock = threading.Lock()

    # -- the phrase index, rebuilt when plugins add commands ------------------------------------
    def _signature(self) -> tuple[Any, ...]:
        return tuple((c.name, c.title, c.phrases, c.takes_text) for c in self.registry)

    def _build_index(self) -> _Index:
        signature = self._signature()
        with self._lock:
            if self._index is not None and self._index.signature == signature:
                return self._index
            entries: list[tuple[Command, str]] = []
            for command in self.registry:
                if command.takes_text:
                    continue
                for phrase in dict.fromkeys((*command.phrases, command.title)):
                    entries.append((command, normalise(phrase)))
            vectors = None
            if self.embedder is not None and self.embedding_weight > 0:
                try:
                    vectors = self.embedder.embed_sync([p for _, p in entries])
                except EmbeddingsUnavailable as exc:
                    self.log.warning("voice commands match by spelling only: %s", exc)
            self._index = _Index(signature, entries, vectors)
            return self._index

    def prompt_vocabulary(self) -> str:
        """The command phrases, as a Whisper initial prompt that biases decoding toward them."""
        # Text-taking triggers ("ask") go first: Whisper tends to continue the prompt's last words
        # into the transcript, and "ask, run this cell" would turn a command into a question.
        # Plugins' commands come before the built-in ones: the built-ins keep their place at the end,
        # where the prompt biases decoding most, however many commands plugins add.
        ordered = sorted(self.registry, key=lambda c: (not c.takes_text, c.source == "nexus"))
        phrases = [c.phrases[0] if c.phrases else c.title for c in ordered]
        return "Jupyter notebook voice commands: " + ", ".join(p.lower() for p in phrases) + "."

    # -- matching -------------------------------------------------------------------------------
    def match_text(self, transcript_text: str) -> CommandMatch:
        """Blocking (may embed): call from a worker thread, or use ``match``."""
        spoken = normalise(transcript_text)
        if spoken in HALLUCINATIONS:
            return CommandMatch(action="none", reason="no_speech")
        text = strip_fillers(spoken)
        if text in HALLUCINATIONS:
            return CommandMatch(action="none", reason="no_match")
        prefixed = self._match_prefix(text)
        if prefixed is not None:
            return prefixed
        return self._match_fixed(text)

    def _match_prefix(self, text: str) -> CommandMatch | None:
        """'generate code that sorts a list' -> (generate, 'sorts a list'): trigger, then argument."""
        words = text.split()
        best: tuple[float, Command, str, str] | None = None
        for command in self.registry:
            if not command.takes_text:
                continue
            for phrase in command.phrases:
                trigger = normalise(phrase)
                n = len(trigger.split())
                if len(words) <= n:
                    continue
                score = ratio(" ".join(words[:n]), trigger)
                if score >= self.prefix_threshold and (best is None or score > best[0]):
                    best = (score, command, trigger, " ".join(words[n:]))
        if best is None:
            return None
        score, command, trigger, argument = best
        inner = self._match_fixed(argument)
        if inner.command is not None and inner.confidence >= 0.9:
            # "ask, run this cell": a whole command after the trigger is more likely the prompt leaking
            # into the transcript than a question about running cells; ask the user which was meant.
            inner.action, inner.reason = "confirm", inner.reason or "ambiguous"
            inner.alternatives = [(command.name, round(score, 3)), *inner.alternatives]
            return inner
        return self._verdict(command, score, [], phrase=trigger, text=argument)

    def _match_fixed(self, text: str) -> CommandMatch:
        index = self._build_index()
        if not index.entries:
            return CommandMatch(action="none", reason="no_match")
        semantic: list[float] | None = None
        if index.vectors is not None and self.embedder is not None and not self._spelled_out(text, index):
            query = self.embedder.embed_sync([text])[0]
            semantic = [float(v) for v in index.vectors @ query]
        weight = self.embedding_weight if semantic is not None else 0.0
        per_command: dict[str, tuple[float, Command, str]] = {}
        for i, (command, phrase) in enumerate(index.entries):
            score = (1 - weight) * fuzzy(text, phrase) + (weight * max(0.0, semantic[i]) if semantic else 0.0)
            if command.name not in per_command or score > per_command[command.name][0]:
                per_command[command.name] = (score, command, phrase)
        ranked = sorted(per_command.values(), key=lambda item: item[0], reverse=True)
        score, command, phrase = ranked[0]
        alternatives = [(c.name, round(s, 3)) for s, c, _ in ranked[1:4]]
        floor = self.confirm_threshold if index.vectors is not None else self.spelling_only_confirm_threshold
        if score < floor:
            return CommandMatch(
                action="none", confidence=round(score, 3), reason="no_match", alternatives=alternatives
            )
        ambiguous = len(ranked) > 1 and score - ranked[1][0] < self.ambiguity_margin
        return self._verdict(command, score, alternatives, phrase=phrase, ambiguous=ambiguous)

    @staticmethod
    def _spelled_out(text: str, index: _Index) -> bool:
        """True when one command's phrase was heard almost verbatim: embeddings (10-30 ms) add nothing."""
        scores: dict[str, float] = {}
        for command, phrase in index.entries:
            scores[command.name] = max(scores.get(command.name, 0.0), fuzzy(text, phrase))
        best, second = [*sorted(scores.values(), reverse=True), 0.0, 0.0][:2]
        return best >= 0.95 and best - second >= 0.15

    def _verdict(
        self,
        command: Command,
        score: float,
        alternatives: list[tuple[str, float]],
        *,
        phrase: str,
        text: str | None = None,
        ambiguous: bool = False,
    ) -> CommandMatch:
        reason = None
        if command.destructive:
            reason = "destructive"
        elif score < self.accept_threshold:
            reason = "low_confidence"
        elif ambiguous:
            reason = "ambiguous"
        return CommandMatch(
            action="confirm" if reason else "run",
            command=command,
            confidence=round(min(score, 1.0), 3),
            text=text,
            phrase=phrase,
            reason=reason,
            alternatives=alternatives,
        )

    async def match(self, transcript: Transcript) -> CommandMatch:
        """The verdict for a transcript: no speech means no action, whatever the text says."""
        if not transcript.heard_speech:
            return CommandMatch(action="none", reason="no_speech")
        return await asyncio.to_thread(self.match_text, transcript.text)

    async def warm_up(self) -> None:
        await asyncio.to_thread(self._build_index)
