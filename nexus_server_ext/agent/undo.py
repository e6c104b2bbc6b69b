"""Undoing an agent turn: the notebook's cells and the kernel's variables as they were before it.

The notebook side puts back only what the agent changed (``AgentNotebook.restore``):
a cell a person changed after the agent is kept, and listed. The kernel side
restores the checkpoint taken before the turn's first run. What code did outside
the kernel's variables (files written, packages installed, data sent) cannot be
undone, and the report says so.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .kernel import KernelCheckpoint, NotebookKernel
    from .notebook import AgentNotebook, NotebookSnapshot

log = logging.getLogger(__name__)


@dataclass
class UndoReport:
    cells_restored: int = 0
    cells_removed: int = 0
    cells_kept: list[str] = field(default_factory=list)
    variables_restored: list[str] = field(default_factory=list)
    variables_removed: list[str] = field(default_factory=list)
    variables_not_restored: dict[str, str] = field(default_factory=dict)
    kernel_restored: bool = False
    message: str = ""


async def undo_turn(
    notebook: AgentNotebook,
    snapshot: NotebookSnapshot,
    kernel: NotebookKernel | None,
    checkpoint: KernelCheckpoint | None,
) -> UndoReport:
    report = UndoReport()
    restored = await notebook.restore(snapshot)
    report.cells_restored, report.cells_removed = restored.restored, restored.removed
    report.cells_kept = list(restored.kept)
    if checkpoint is not None and kernel is not None:
        try:
            variables = await kernel.restore(checkpoint.key)
            await kernel.discard(checkpoint.key)
            report.kernel_restored = True
            report.variables_restored = list(variables.restored)
            report.variables_removed = list(variables.removed)
            report.variables_not_restored = dict(variables.not_restored)
        except Exception as exc:  # a restarted kernel lost the checkpoint: say so, keep the cells undone
            log.warning("NEXUS agent: kernel not restored: %s", exc)
            report.variables_not_restored = {"*": f"the kernel could not be restored ({exc})"}
    report.message = undo_message(report, ran_code=checkpoint is not None)
    return report


def undo_message(report: UndoReport, *, ran_code: bool) -> str:
    parts = [
        f"Put back {report.cells_restored} cell(s) and removed {report.cells_removed} the turn had added."
    ]
    if report.cells_kept:
        parts.append(f"Left {len(report.cells_kept)} cell(s) a person changed afterwards as they are.")
    if ran_code:
        if report.kernel_restored:
            parts.append(
                f"Kernel: restored {len(report.variables_restored)} variable(s), removed "
                f"{len(report.variables_removed)} the turn created."
            )
        for name, why in sorted(report.variables_not_restored.items()):
            parts.append(f"Not restored: {name} ({why}).")
        parts.append("Files written, packages installed or data sent by the code are not undone.")
    else:
        parts.append("The turn ran no code, so the kernel was not touched.")
    return " ".join(parts)
