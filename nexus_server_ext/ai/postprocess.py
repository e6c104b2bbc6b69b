"""Turning raw model text into what the user asked for: code, an explanation, an inline completion.

Small models wrap code in prose, repeat the prompt and ramble past the
cursor; these functions undo that deterministically so the validator and the
editor see only the useful part.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+#.-]*)[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)
_CHATTER = re.compile(
    r"^\s*(sure|here('s| is| are)|certainly|of course|the (completed|completion|code)"
    r"|this (code|function))\b",
    re.IGNORECASE,
)

PYTHON_NAMES = {"python", "py", "python3", "ipython", ""}


@dataclass
class CodeAnswer:
    code: str
    explanation: str
    language: str


def extract_code(text: str, language: str = "python") -> CodeAnswer:
    """The fenced code blocks (those in ``language`` first) and the prose around them.

    Without a fence, text that parses as Python is taken as code (small models often skip the fence).
    """
    blocks = [(m.group(1).lower(), m.group(2)) for m in _FENCE.finditer(text)]
    if blocks:
        wanted = {language.lower()} | (PYTHON_NAMES if language.lower() in PYTHON_NAMES else set())
        chosen = [code for lang, code in blocks if lang in wanted] or [code for _lang, code in blocks]
        explanation = _FENCE.sub("", text).strip()
        return CodeAnswer("\n\n".join(c.strip("\n") for c in chosen).rstrip() + "\n", explanation, language)
    stripped = text.strip()
    if language.lower() in PYTHON_NAMES and stripped and python_error(stripped) is None and "\n" in stripped:
        return CodeAnswer(stripped + "\n", "", language)
    return CodeAnswer("", stripped, language)


def python_error(code: str) -> str | None:
    """None when ``code`` parses as Python, else a one-line description of the syntax error."""
    try:
        ast.parse(code)
    except SyntaxError as exc:
        return f"line {exc.lineno}: {exc.msg}"
    except (ValueError, RecursionError) as exc:
        return str(exc)
    return None


def validate_code(answer: CodeAnswer) -> str | None:
    """Why the answer is unusable, or None. Only Python is checked (with ``ast``)."""
    if not answer.code.strip():
        return "the answer contains no code"
    if answer.language.lower() in PYTHON_NAMES:
        return python_error(answer.code)
    return None


def clean_completion(text: str, prefix: str, suffix: str, max_lines: int = 12) -> str:
    """An inline completion: no fences, no chatter, nothing that repeats the prefix or the suffix."""
    fenced = _FENCE.search(text)
    before = text[: fenced.start()].split("\n") if fenced else []
    if fenced and all(not line.strip() or _CHATTER.match(line) for line in before):
        text = fenced.group(2)  # an opening fence: the completion is what it holds
    lines = text.split("\n")
    # A fence with nothing fenced after it (the model closing a block it never opened): the code
    # ends there, and the fence line itself is never part of it (accepted, it breaks the cell).
    fence_at = next((i for i, line in enumerate(lines) if line.lstrip().startswith("```")), None)
    if fence_at is not None:
        lines = lines[:fence_at]
    while lines and _CHATTER.match(lines[0]) and (len(lines) > 1):
        lines.pop(0)
    text = "\n".join(lines)
    # The model restates what is already before the cursor: drop the overlap.
    text = _drop_prefix_overlap(text, prefix)
    # ... or runs on into what is already after the cursor: stop there.
    anchor = next((ln.strip() for ln in suffix.split("\n") if ln.strip()), "")
    if anchor:
        for i, line in enumerate(text.split("\n")):
            if i > 0 and line.strip() == anchor:
                text = "\n".join(text.split("\n")[:i])
                break
        if text.endswith(suffix) and suffix:
            text = text[: -len(suffix)]
    head = text.lstrip("\n")
    if "\n\n" in head:  # a blank line ends the block the cursor is in
        text = text[: len(text) - len(head)] + head.split("\n\n")[0]
    if prefix.split("\n")[-1].strip() == "" and prefix.endswith((" ", "\t")):
        text = text.lstrip(" \t")  # the prefix already holds the indentation
    text = "\n".join(text.split("\n")[:max_lines])
    text = text.split("```")[0]  # a fence anywhere ends the code (accepted, it breaks the cell)
    return text.rstrip() if "\n" in text.strip("\n") else text.rstrip("\n")


def _drop_prefix_overlap(text: str, prefix: str) -> str:
    if not prefix:
        return text
    tail = prefix[-400:]
    line = prefix.split("\n")[-1].lstrip()
    # the longest end of the prefix that the completion starts with, when it restarts the cursor's line
    # at least: a shorter overlap is often right code (``warm = df[`` + ``df["temp"] > 10]``)
    for size in range(min(len(tail), len(text)), max(2, len(line) - 1), -1):
        if text.startswith(tail[-size:]):
            return text[size:]
    last_line = prefix.split("\n")[-1]
    if last_line.strip() and text.lstrip().startswith(last_line.strip()):
        return text.lstrip()[len(last_line.strip()) :]
    return text
