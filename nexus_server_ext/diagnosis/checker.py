"""The server's fix checks: copy the notebook kernel's values, run the fix in a scratch process.

``scratch.py`` runs the cell; this service adds what only the server knows (which kernel the
notebook runs on) and the limits an admin sets. It never waits on the event loop: the copy is a
silent request to the kernel, the run a child process.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from dataclasses import replace
from typing import TYPE_CHECKING

from traitlets import Float, Int
from traitlets.config import LoggingConfigurable

from .scratch import FixCheck, names_read, new_folder, run_in_folder

if TYPE_CHECKING:
    from ..context.manager import ContextManager

log = logging.getLogger(__name__)


class FixChecker(LoggingConfigurable):
    """Runs every proposed fix before it is offered (see ``diagnosis.scratch``)."""

    timeout_s = Float(
        10.0, help="Seconds a fixed cell may run in the check process; longer runs are 'not checked'."
    ).tag(config=True)
    memory_mb = Int(2048, help="Memory (address space, MB) of the check process.").tag(config=True)
    copy_max_mb = Int(
        100, help="Most MB of the kernel's values copied into one check run (larger values are skipped)."
    ).tag(config=True)
    copy_timeout_s = Float(
        5.0, help="Seconds to wait for the kernel to copy its values (a busy kernel: run without them)."
    ).tag(config=True)

    def __init__(self, context: ContextManager | None = None, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.context = context

    async def check(
        self, code: str, notebook_path: str | None = None, kernel_id: str | None = None
    ) -> FixCheck:
        """Run ``code`` (a whole fixed cell) with copies of the values it reads from the kernel
        (``kernel_id``, else the notebook's)."""
        folder = new_folder()
        try:
            note = await self._copy(code, str(folder), notebook_path, kernel_id)
            result = await run_in_folder(folder, code, timeout_s=self.timeout_s, memory_mb=self.memory_mb)
            if note and not result.verified:  # why the run lacked the kernel's values
                return replace(result, detail=f"{result.detail} ({note})")
            return result
        finally:
            await asyncio.to_thread(shutil.rmtree, folder, True)

    async def _copy(self, code: str, folder: str, notebook_path: str | None, kernel_id: str | None) -> str:
        """Copy the kernel's values into ``folder``; '' when done or not needed, else why not."""
        if self.context is None or not (notebook_path or kernel_id):
            return ""
        limit = self.copy_max_mb * 1024**2
        try:
            await asyncio.wait_for(
                self.context.copy_kernel_values(notebook_path, names_read(code), folder, limit, kernel_id),
                self.copy_timeout_s,
            )
        except Exception as exc:  # busy or gone: the run goes on without the copies, and says so
            log.info("NEXUS fix check: the kernel's values were not copied: %s", exc)
            return "the kernel's values could not be copied: it did not answer in time"
        return ""
