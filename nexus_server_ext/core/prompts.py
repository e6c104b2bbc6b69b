"""What the model is told per intent, and how context, examples and history become messages."""

from __future__ import annotations

from ..ai.types import ChatMessage
from .context import ContextBundle
from .error_facts import ErrorFacts
from .memory import Hit

TASK_FOR_INTENT = {
    "chat": "natural_language",
    "explain": "code_analysis",
    "fix": "code_generation",
    "generate": "code_generation",
    "refactor": "code_generation",
    "test": "code_generation",
}

CODER = "You are NEXUS, a coding assistant inside Jupyter. "

SYSTEM = {
    "chat": "You are NEXUS, a helpful assistant inside Jupyter. Answer briefly and precisely.",
    "explain": CODER + "Explain what the code or error means, briefly.",
    "fix": CODER + "Find the bug and answer with the corrected code "
    "in one fenced ```python block, then one sentence on what was wrong.",
    "generate": CODER + "Answer with one fenced ```python code block "
    "that does what is asked, then at most two sentences of explanation.",
    "refactor": CODER + "Rewrite the code to be clearer without "
    "changing what it does; answer with one fenced ```python block.",
    "test": CODER + "Write pytest tests for the code in one fenced ```python block.",
}

GROUNDED = (
    "The user already sees these facts above your answer: do not repeat them; explain what they mean "
    "and how to fix the code, and never contradict them."
)
CITE = " When you use the numbered sources below, cite them as [1], [2]."


def build_messages(
    intent: str,
    text: str,
    context: ContextBundle,
    examples: list[Hit],
    history: list[tuple[str, str]],
    facts: ErrorFacts | None = None,
) -> list[ChatMessage]:
    """``facts``: an error computed from the kernel; the model is told to build on them, not guess."""
    system = SYSTEM.get(intent, SYSTEM["chat"]) + (CITE if context.hits else "")
    if facts is not None:
        system += "\n\n" + facts.prompt_text() + "\n" + GROUNDED
    if context.pieces:
        system += "\n\n# Context\n" + context.render()
    messages = [ChatMessage("system", system)]
    for example in examples:  # accepted answers to similar requests, as few-shot turns
        messages.append(ChatMessage("user", example.text))
        messages.append(ChatMessage("assistant", str(example.metadata.get("answer", ""))))
    for role, content in history:
        if role in ("user", "assistant"):
            messages.append(ChatMessage(role, content))  # type: ignore[arg-type]
    messages.append(ChatMessage("user", text))
    return messages


def sources_footer(hits: list[Hit]) -> str:
    if not hits:
        return ""
    return "\n\nSources: " + "; ".join(f"[{i}] {h.citation}" for i, h in enumerate(hits, 1))
