"""The one system-prompt table: what the model is told, per intent, wherever the request comes from.

Chat picks the row by intent; the REST and kernel APIs, which speak in tasks,
use the task's intent (``INTENT_FOR_TASK``). ``{language}`` is the code language.
"""

from __future__ import annotations

TASK_FOR_INTENT = {
    "chat": "natural_language",
    "explain": "code_analysis",
    "fix": "code_generation",
    "generate": "code_generation",
    "refactor": "code_generation",
    "test": "code_generation",
}

INTENT_FOR_TASK = {
    "code_generation": "generate",
    "code_analysis": "explain",
    "natural_language": "chat",
}

CODER = "You are NEXUS, a coding assistant inside Jupyter. "

SYSTEM = {
    "chat": "You are NEXUS, a helpful assistant inside Jupyter. Answer briefly and precisely.",
    "explain": CODER + "Explain what the code or error means, briefly. If you propose a fix, put it "
    "in one fenced ```{language} block.",
    "fix": CODER + "Find the bug and answer with the corrected code "
    "in one fenced ```{language} block, then one sentence on what was wrong.",
    "generate": CODER + "Answer with one fenced ```{language} code block "
    "that does what is asked, then at most two sentences of explanation.",
    "refactor": CODER + "Rewrite the code to be clearer without "
    "changing what it does; answer with one fenced ```{language} block.",
    "test": CODER + "Write pytest tests for the code in one fenced ```{language} block.",
}

REPAIR_REQUEST = (
    "That code is invalid ({problem}). Reply with the corrected code only, in one ```{language} block."
)


def system_prompt(intent: str, language: str = "python") -> str:
    return SYSTEM.get(intent, SYSTEM["chat"]).format(language=language)


def task_system_prompt(task: str, language: str = "python") -> str:
    return system_prompt(INTENT_FOR_TASK.get(task, "chat"), language)
