"""``AgentService``: every agent turn of this server, its limits, and who may do what with a turn.

One turn at a time per notebook (a second one is refused until the first ends);
only the most recent turn of a notebook can be undone (undoing an older one
under a newer one would tear the notebook). Only the turn's owner approves,
rejects, stops or undoes it; whoever can open the notebook follows it. Every
change to a turn is announced to its owner's sockets and to everyone following
the notebook.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections import OrderedDict
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from traitlets import Bool, Float, Int, default
from traitlets.config import LoggingConfigurable

from ..errors import NexusError
from .notebook_tools import notebook_tools
from .run import AgentRun
from .steps import Decision, Mode, RunLimits
from .tools import ToolContext, ToolError, ToolRegistry
from .undo import UndoReport

if TYPE_CHECKING:
    from ..ai.interactions import InteractionLog
    from ..ai.router import ModelRouter
    from ..memory.vector_memory import VectorMemory
    from ..security.audit import AuditLog
    from .kernel import NotebookKernel

log = logging.getLogger(__name__)

# run, the text just added to its message (None: something else changed)
Announce = Callable[[AgentRun, str | None], None]


class AgentService(LoggingConfigurable):
    max_steps = Int(25, help="Tool calls one agent turn may make before it is ended.").tag(config=True)
    max_tokens = Int(
        60_000, help="Model tokens (prompt and answer, all calls) one agent turn may use before it is ended."
    ).tag(config=True)
    max_seconds = Float(
        600.0, help="Seconds one agent turn may work (time waiting for your approval does not count)."
    ).tag(config=True)
    run_timeout_s = Float(
        300.0, help="Seconds one cell the agent runs may take before it is interrupted."
    ).tag(config=True)
    max_goal_chars = Int(8000, help="Longest goal accepted (longer: 413).").tag(config=True)
    allow_auto = Bool(
        help="Whether users may choose the 'auto' approval mode (nothing asks). Off by default (env "
        "NEXUS_AGENT_ALLOW_AUTO=1 turns it on). NEXUS_AGENT_ALLOW_AUTO=0 in the server's environment "
        "forbids it whatever the configuration says: a JupyterHub sets it through c.Spawner.environment "
        "to forbid it for every user.",
    ).tag(config=True)

    @default("allow_auto")
    def _default_allow_auto(self) -> bool:
        return os.environ.get("NEXUS_AGENT_ALLOW_AUTO", "").strip().lower() in ("1", "true", "yes")

    @property
    def auto_allowed(self) -> bool:
        """``allow_auto``, unless the environment forbids it (a hub's word beats a user's config file)."""
        forbidden = os.environ.get("NEXUS_AGENT_ALLOW_AUTO", "").strip().lower() in ("0", "false", "no")
        return self.allow_auto and not forbidden

    keep_runs = Int(100, help="Finished turns kept in memory for the API (oldest dropped first).").tag(
        config=True
    )

    def __init__(
        self,
        *,
        serverapp: Any,
        router: ModelRouter,
        announce: Announce,
        audit: AuditLog | None = None,
        interactions: InteractionLog | None = None,
        memory: VectorMemory | None = None,
        tools: ToolRegistry | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.serverapp = serverapp
        self.router = router
        self.announce = announce
        self.audit = audit
        self.interactions = interactions
        self.memory = memory
        self.tools = tools if tools is not None else notebook_tools()
        self.runs: OrderedDict[str, AgentRun] = OrderedDict()
        self._tasks: set[asyncio.Future[None]] = set()

    @property
    def limits(self) -> RunLimits:
        return RunLimits(self.max_steps, self.max_tokens, self.max_seconds)

    # -- starting ------------------------------------------------------------------------------------
    async def kernel_for(self, path: str) -> NotebookKernel | None:
        from ..context.kernel_state import notebook_kernel_id
        from .kernel import NotebookKernel

        kernel_id = await notebook_kernel_id(self.serverapp, path)
        return None if kernel_id is None else NotebookKernel(self.serverapp.kernel_manager, kernel_id)

    def check_goal(self, goal: str) -> None:
        """413 for a goal over ``max_goal_chars`` (checked before anything is looked up), 400 for none."""
        if len(goal) > self.max_goal_chars:
            raise NexusError(
                413,
                "payload_too_large",
                f"The goal is {len(goal)} characters; the limit is {self.max_goal_chars}.",
            )
        if not goal.strip():
            raise NexusError(400, "invalid_request", "Say what the agent should do.")

    async def start(
        self,
        *,
        owner: str,
        display_name: str,
        path: str,
        goal: str,
        mode: Mode,
        user_id: int | None = None,
        request_id: str | None = None,
    ) -> AgentRun:
        """A new turn, started (``path`` is clean and the caller may write it: ``check_notebook_access``)."""
        run = await self._new_run(
            owner=owner, display_name=display_name, agent="nexus", path=path, goal=goal, mode=mode
        )
        run.user_id, run.request_id = user_id, request_id
        run.start()
        run.changed()
        return run

    async def for_client(
        self, *, owner: str, display_name: str, path: str, client: str, mode: Mode, approval_timeout_s: float
    ) -> AgentRun:
        """The open turn of an outside agent (``client``, e.g. an MCP client's name) in a notebook, or a
        new one: its steps go through the same approvals, checkpoint, undo and audit as NEXUS's own."""
        active = self.active_in(path)
        if active is not None and active.client == client and active.owner == owner:
            return active
        run = await self._new_run(
            owner=owner,
            display_name=display_name,
            agent=client,
            path=path,
            goal=f"{client} works in the notebook",
            mode=mode,
        )
        await run.open_for_client(client, approval_timeout_s)
        return run

    async def _new_run(
        self, *, owner: str, display_name: str, agent: str, path: str, goal: str, mode: Mode
    ) -> AgentRun:
        from .notebook import AgentNotebook

        self.check_goal(goal)
        if mode == "auto" and not self.auto_allowed:
            raise NexusError(
                403,
                "auto_not_allowed",
                "The administrator has not allowed the 'auto' mode here; choose 'ask' or 'auto_edits'.",
            )
        active = self.active_in(path)
        if active is not None:
            raise NexusError(
                409,
                "agent_busy",
                f"An agent turn is already working in {path}; stop it or wait for it to end.",
            )
        kernel = await self.kernel_for(path)
        if kernel is None:
            raise NexusError(
                400,
                "no_kernel",
                f"{path} has no running kernel: open it in JupyterLab (or start its kernel) and try again.",
            )
        person = display_name or owner
        author = f"NEXUS agent for {person}" if agent == "nexus" else f"NEXUS for {person} via {agent}"
        notebook = AgentNotebook(self.serverapp, path, requested_by=person, agent=agent, run_id="")

        async def find_kernel() -> NotebookKernel:
            found = await self.kernel_for(path)
            if found is None:
                raise ToolError("The notebook's kernel is gone: ask the user to start it again.")
            return found

        context = ToolContext(
            notebook=notebook,
            owner=owner,
            kernel=find_kernel,
            contents_manager=self.serverapp.contents_manager,
            search_memory=self._search_memory if self.memory is not None else None,
            run_timeout_s=self.run_timeout_s,
        )
        run = AgentRun(
            owner=owner,
            author=author,
            notebook=notebook,
            goal=goal,
            mode=mode,
            router=self.router,
            tools=self.tools,
            context=context,
            limits=self.limits,
            notify=self.announce,
            audit=self.audit,
            interactions=self.interactions,
        )
        notebook.run_id = run.id
        for earlier in self.runs.values():
            if earlier.path == path and not earlier.superseded:
                earlier.superseded = True  # only the latest turn of a notebook can be undone
                self._background(earlier.release())
        self.runs[run.id] = run
        self._forget_old()
        return run

    async def _search_memory(self, owner: str, query: str, k: int) -> list[Any]:
        assert self.memory is not None
        return await self.memory.asearch(owner, query, k)

    def _forget_old(self) -> None:
        finished = [rid for rid, r in self.runs.items() if r.ended]
        for rid in finished[: max(0, len(self.runs) - self.keep_runs)]:
            self._background(self.runs.pop(rid).release())

    def _background(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- finding -------------------------------------------------------------------------------------
    def active_in(self, path: str) -> AgentRun | None:
        return next((r for r in self.runs.values() if r.path == path and not r.ended), None)

    def get(self, run_id: str) -> AgentRun:
        run = self.runs.get(run_id)
        if run is None:
            raise NexusError(404, "not_found", f"There is no agent turn {run_id!r}.")
        return run

    def owned(self, run_id: str, username: str) -> AgentRun:
        run = self.get(run_id)
        if run.owner != username:
            raise NexusError(403, "forbidden", "Only the person who started this agent turn can do that.")
        return run

    # -- the owner's actions -------------------------------------------------------------------------
    def decide(
        self, run_id: str, step_id: str, username: str, who: str, decision: Decision, reason: str | None
    ) -> AgentRun:
        run = self.owned(run_id, username)
        try:
            run.decide(step_id, decision, reason, who)
        except LookupError:
            raise NexusError(404, "not_found", f"The turn has no step {step_id!r}.") from None
        except ValueError as exc:
            raise NexusError(409, "not_pending", str(exc).capitalize() + ".") from None
        return run

    async def stop(self, run_id: str, username: str, who: str) -> AgentRun:
        run = self.owned(run_id, username)
        await run.stop(who)
        return run

    async def undo(self, run_id: str, username: str) -> UndoReport:
        run = self.owned(run_id, username)
        if not run.ended:
            raise NexusError(409, "agent_running", "Stop the turn before undoing it.")
        if run.state == "undone":
            raise NexusError(409, "already_undone", "This turn was undone already.")
        if not run.can_undo:
            raise NexusError(
                409,
                "not_undoable",
                "Only the latest agent turn of a notebook can be undone; a later turn changed it since.",
            )
        return await run.undo()

    async def aclose(self) -> None:
        for run in list(self.runs.values()):
            if not run.ended and run.task is not None:
                run.task.cancel()
        tasks = [r.task for r in self.runs.values() if r.task is not None]
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)


def ignore(_run: AgentRun, _delta: str | None) -> None:
    """An ``Announce`` that tells nobody (tests, the benchmark)."""


__all__ = ["AgentService", "Announce", "ignore"]
