"""The one Explain / Fix service: an error's facts first, a certain fix when they settle it, the model after.

Every front door asks it the same way, so they behave the same way: the REST
``/generate`` (the debug panel's Explain / Fix), chat's ``/explain`` and ``/fix``,
and the ``%nexus explain`` / ``%nexus fix`` magics (in a kernel with or without a
NEXUS server). The facts (exception, failing line, the values on it, the cause)
are computed from the traceback and, where a kernel is at hand, from its state;
a model is told them and never asked to guess them. When the facts settle the
fix (``certain_fixes``), the fix is the answer and no model is asked. Every fix, computed or a
model's, is run in a scratch process before it is offered (``checker`` / ``scratch``), and only one
that runs is offered to apply (``offer``).

``diagnose`` is pure (the kernel calls it with facts from a live exception);
``Diagnosis`` adds what only the server knows: the notebook's kernel.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from .certain_fixes import CertainFix, certain_fix
from .facts import ErrorFacts, from_traceback_text
from .offer import FixOffer, offer_computed_fix, offer_model_fix
from .scratch import FixCheck

if TYPE_CHECKING:
    from ..context.manager import ContextManager
    from .checker import FixChecker

# The provider / model an answer computed from the facts is attributed to (no model wrote it).
COMPUTED_PROVIDER = "nexus"
COMPUTED_MODEL = "error facts"

TRACEBACK_CHARS = 4000  # of a traceback's end, told to a model after the facts

# What the model is told besides the facts: they are shown above its answer.
GROUNDED = (
    "The user already sees these facts above your answer: do not repeat them; explain what they mean "
    "and how to fix the code, and never contradict them."
)


@dataclass(frozen=True)
class Diagnosed:
    """An error's facts and, when they settle it and a fix was asked for, the fixed code."""

    facts: ErrorFacts
    fix: CertainFix | None = None
    check: FixCheck | None = None  # the certain fix's check run, once it ran

    @property
    def lead(self) -> str:
        """Markdown shown before any model's words (and kept with the stored answer)."""
        return self.facts.render_markdown()

    def model_context(self, traceback: str = "") -> str:
        """What a model is told about the error: the facts first (a small model follows them), then
        the traceback's end for the details (a RecursionError's runs to tens of thousands of tokens,
        more than a small model's whole context)."""
        tail = traceback.rstrip()
        if len(tail) > TRACEBACK_CHARS:
            tail = "[... the traceback's start is left out ...]\n" + tail[-TRACEBACK_CHARS:]
        return "\n\n".join(p for p in (self.facts.prompt_text(), tail) if p)

    def system_note(self) -> str:
        """For a chat prompt: the facts and how to use them."""
        return f"{self.facts.prompt_text()}\n{GROUNDED}"

    def computed_offer(self, language: str = "python") -> FixOffer:
        """The fix the facts settle, offered when its check run passed (see ``offer``)."""
        assert self.fix is not None and self.check is not None
        return offer_computed_fix(self.fix.explanation, self.fix.code, self.check, language)

    def computed_answer(self, language: str = "python") -> str:
        """The whole answer when the facts settle the fix: facts, what changed, the check, the code."""
        return f"{self.lead}\n\n{self.computed_offer(language).text}"


def diagnose(facts: ErrorFacts, code: str | None = None, *, fix: bool = False) -> Diagnosed:
    """``facts`` raised by ``code`` (default: the failing cell); with ``fix``, the certain fix if any."""
    settled = certain_fix(facts, code or facts.cell) if fix else None
    return Diagnosed(facts, settled)


class Diagnosis:
    """The server's Explain / Fix: the facts from the notebook's kernel when it has the error, else
    from the traceback text the client sent."""

    def __init__(self, context: ContextManager | None = None, checker: FixChecker | None = None) -> None:
        self.context = context
        if checker is None:
            from .checker import FixChecker

            checker = FixChecker(context=context)
        self.checker = checker

    async def diagnose(
        self,
        *,
        traceback: str | None = None,
        code: str | None = None,
        notebook_path: str | None = None,
        facts: ErrorFacts | None = None,
        fix: bool = False,
        kernel_id: str | None = None,
    ) -> Diagnosed | None:
        """The diagnosis of an error, or None when there is none to diagnose. ``facts``: already read
        (chat reads them with the rest of its context); otherwise the notebook's kernel is asked (it
        knows the values on the failing line), then the ``traceback`` text is parsed. With ``fix``, a
        certain fix comes with its check run (in a scratch process seeded from the notebook's kernel)."""
        if facts is None and traceback and self.context is not None and notebook_path:
            facts = await self.context.kernel_error_facts(notebook_path)
        if facts is None and traceback:
            facts = from_traceback_text(traceback)
        if facts is None:
            return None
        diagnosed = diagnose(facts, code, fix=fix)
        if diagnosed.fix is not None:  # certain of the change, not of the cell: run it first
            check = await self.checker.check(diagnosed.fix.code, notebook_path, kernel_id)
            diagnosed = replace(diagnosed, check=check)
        return diagnosed

    async def offer_model_fix(
        self,
        answer: str,
        code: str,
        *,
        notebook_path: str | None,
        hide_unverified: bool,
        kernel_id: str | None = None,
    ) -> FixOffer:
        """A model's fix (``code`` taken from its ``answer``), run before it is offered."""
        check = await self.checker.check(code, notebook_path, kernel_id) if code.strip() else None
        return offer_model_fix(answer, code, check, hide_unverified=hide_unverified)
