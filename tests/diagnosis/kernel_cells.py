"""A real IPython kernel for the certain-fix tests: a cell fails there, its facts are read the two ways
NEXUS reads them, the fix is computed from each, and the fixed cell runs in the same kernel.

- the server's way: the kernel is inspected (``kernel_state.inspect_kernel``) and the facts come
  from its traceback text and variable summaries (``context.manager.facts_from_state``);
- the ``%nexus fix`` magic's way: inside the kernel, from the live exception (``facts.from_exception``).
"""

from __future__ import annotations

import ast
import asyncio
import json
from dataclasses import dataclass
from typing import Any

from jupyter_client.multikernelmanager import AsyncMultiKernelManager

from nexus_server_ext.context.kernel_state import inspect_kernel
from nexus_server_ext.context.manager import facts_from_state
from nexus_server_ext.diagnosis.certain_fixes import CertainFix, certain_fix
from nexus_server_ext.diagnosis.facts import ErrorFacts

# Evaluated in the kernel as a user expression (nothing enters its namespace or history): what the
# magic computes there from the exception IPython kept.
_IN_KERNEL = (
    "(lambda sys, fix, facts: __import__('json').dumps("
    "(lambda f: [f.exc_type, f.cell, (lambda c: c and [c.code, c.explanation])(fix.certain_fix(f, f.cell))])"
    "(facts.from_exception(sys.last_value))))"
    "(__import__('sys'), __import__('nexus_server_ext.diagnosis.certain_fixes', fromlist=['x']),"
    " __import__('nexus_server_ext.diagnosis.facts', fromlist=['x']))"
)


@dataclass
class Ran:
    stdout: str
    error: str | None  # the exception's type name


@dataclass
class Fixes:
    """One failed cell's certain fix as the server computes it and as the magic computes it."""

    server_facts: ErrorFacts
    server: CertainFix | None
    magic: CertainFix | None

    @property
    def code(self) -> str | None:
        """The fixed cell, once both ways agree on it (the kernel keeps a cell with a final newline)."""
        server = self.server.code.rstrip("\n") if self.server else None
        magic = self.magic.code.rstrip("\n") if self.magic else None
        assert server == magic, f"the server and the magic disagree:\n{server!r}\n{magic!r}"
        return server


class KernelCells:
    """A python3 kernel started by an async multi-kernel manager, like the server's."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.manager = AsyncMultiKernelManager()
        self.kernel_id = self.loop.run_until_complete(self.manager.start_kernel(kernel_name="python3"))
        # a client on the manager's own session, as the notebook's websocket connection has
        self.client = self.manager.get_kernel(self.kernel_id).client()
        self.client.start_channels()
        self.loop.run_until_complete(self.client.wait_for_ready(timeout=60))

    def close(self) -> None:
        self.client.stop_channels()
        self.loop.run_until_complete(self.manager.shutdown_all(now=True))
        self.loop.close()

    def run(self, code: str) -> Ran:
        """Execute ``code`` as a notebook cell (in the history) and gather its output."""
        return self.loop.run_until_complete(self._run(code))

    async def _run(self, code: str) -> Ran:
        msg_id = self.client.execute(code)
        stdout, error = "", None
        while True:
            msg = await self.client.get_iopub_msg(timeout=60)
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "stream" and content["name"] == "stdout":
                stdout += content["text"]
            elif kind == "error":
                error = content["ename"]
            elif kind == "status" and content["execution_state"] == "idle":
                return Ran(stdout, error)

    def _in_kernel(self, expression: str) -> Any:
        async def evaluate() -> Any:
            msg_id = self.client.execute(
                "", silent=True, store_history=False, user_expressions={"v": expression}
            )
            while True:
                reply = await self.client.get_shell_msg(timeout=60)
                if reply["parent_header"].get("msg_id") == msg_id:
                    result = reply["content"]["user_expressions"]["v"]
                    assert result["status"] == "ok", result
                    return json.loads(ast.literal_eval(result["data"]["text/plain"]))

        return self.loop.run_until_complete(evaluate())

    def fixes(self, cell: str, error: str, setup: str = "") -> Fixes:
        """Run ``cell`` in a fresh namespace (after the cell ``setup``, when given), check it raises
        ``error``, and compute its fix both ways."""
        assert self.run("%reset -f").error is None
        assert not setup or self.run(setup).error is None
        ran = self.run(cell)
        assert ran.error == error, f"{cell!r} raised {ran.error}, not {error}"
        state = self.loop.run_until_complete(inspect_kernel(self.manager, self.kernel_id))
        facts = facts_from_state(state)
        assert facts is not None and facts.exc_type == error and facts.cell == cell
        exc_type, magic_cell, magic = self._in_kernel(_IN_KERNEL)
        assert exc_type == error and magic_cell.rstrip() == cell.rstrip()
        return Fixes(facts, certain_fix(facts, facts.cell), CertainFix(*magic) if magic else None)

    def check(
        self, cell: str, error: str, fixed: str, prints: str, setup: str = "", *, locals_: bool = False
    ) -> CertainFix:
        """The fix of ``cell`` is ``fixed`` both ways, and the fixed cell runs and prints ``prints``.
        ``locals_``: the failing line reads a function's locals, which the magic sees and the server
        does not (so their explanations may say more or less)."""
        found = self.fixes(cell, error, setup)
        assert found.code == fixed
        assert found.server is not None and found.magic is not None
        assert locals_ or found.server.explanation == found.magic.explanation
        ran = self.run(fixed)
        assert ran.error is None and ran.stdout == prints, ran
        return found.server

    def no_fix(self, cell: str, error: str, setup: str = "") -> None:
        """Neither way is sure enough to fix ``cell``."""
        found = self.fixes(cell, error, setup)
        assert found.server is None and found.magic is None, found
