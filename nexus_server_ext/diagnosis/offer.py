"""How a checked fix is put before the user: offered to apply only when its check run passed.

One wording for every front door (chat, the debug panel, the magics). A fix whose check passed is
offered as it is, with the check's line under it. One that failed or could not be checked is never
offered to apply: a model's is folded under "Unverified suggestion", and the bundled model's is not
shown at all (measured: it is wrong far more often than right), with a pointer to a better model.
Standard library only (the kernel's magics use it too).
"""

from __future__ import annotations

from dataclasses import dataclass

from .scratch import FixCheck

BETTER_MODEL_HINT = (
    "For fixes a model can get right, pull a coder model: `jupyter nexus models pull qwen2.5-coder-1.5b`."
)


@dataclass(frozen=True)
class FixOffer:
    """The answer's Markdown after the facts, and the code offered to apply ('' when none is)."""

    text: str
    code: str
    check: FixCheck | None

    @property
    def offered(self) -> bool:
        return bool(self.code)


def folded(summary: str, body: str) -> str:
    """A collapsed block (rendered by JupyterLab's Markdown; code inside it gets no Apply buttons)."""
    return f"<details><summary>{summary}</summary>\n\n{body.strip()}\n\n</details>"


def offer_model_fix(answer: str, code: str, check: FixCheck | None, *, hide_unverified: bool) -> FixOffer:
    """A model's answer to "fix this": ``code`` is the fixed cell taken from ``answer`` ('' if none),
    ``check`` its run (None when there was no code to run)."""
    if check is None or not code.strip():
        return FixOffer(answer, "", None)
    verdict = check.render_markdown()
    if check.verified:
        return FixOffer(f"{answer.rstrip()}\n\n{verdict}", code, check)
    if hide_unverified:
        text = f"{verdict} The bundled model's proposed fix is not shown. {BETTER_MODEL_HINT}"
        return FixOffer(text, "", check)
    summary = "Unverified suggestion (not offered as a fix)"
    return FixOffer(f"{verdict}\n\n{folded(summary, answer)}", "", check)


def offer_computed_fix(explanation: str, code: str, check: FixCheck, language: str = "python") -> FixOffer:
    """A fix the error's facts settle: offered when its run passed; else what the run showed (the
    rename is right, and the cell then fails elsewhere) with the code folded."""
    block = f"```{language}\n{code.rstrip()}\n```"
    verdict = check.render_markdown()
    if check.verified:
        return FixOffer(f"{explanation}\n\n{verdict}\n\n{block}", code, check)
    summary = "The changed cell (not offered as a fix)"
    return FixOffer(f"{explanation}\n\n{verdict}\n\n{folded(summary, block)}", "", check)
