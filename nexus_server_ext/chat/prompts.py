"""How a chat's context, examples and history become messages (the prompt table is ``ai.prompts``)."""

from __future__ import annotations

from ..ai.prompts import SYSTEM, TASK_FOR_INTENT, system_prompt
from ..ai.types import ChatMessage
from ..context.manager import ContextBundle
from ..diagnosis.facts import ErrorFacts
from ..diagnosis.service import GROUNDED
from ..memory.vector_memory import Hit

__all__ = ["SYSTEM", "TASK_FOR_INTENT", "build_messages", "sources_footer"]

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
    system = system_prompt(intent) + (CITE if context.hits else "")
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
