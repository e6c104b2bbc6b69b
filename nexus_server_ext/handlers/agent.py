"""``/agent``: start an agent turn in a notebook, follow it, approve or reject its steps, stop, undo.

Starting a turn needs write access to the notebook (``collab.access``); reading
one needs read access; approving, rejecting, stopping and undoing belong to
whoever started it (403 for anyone else). The same turns stream over the
websocket as ``agent.run`` frames.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from jupyter_server.auth.decorator import authorized
from tornado import web

from ..api_models import (
    AgentApproval,
    AgentLimitsOut,
    AgentRunCreate,
    AgentRunList,
    AgentRunOut,
    AgentStepOut,
    AgentToolList,
    AgentToolOut,
    AgentUndoOut,
    AgentUsageOut,
)
from ..collab.access import check_notebook_access
from ..errors import NexusError
from .base import NexusHandler, Operation, display_name

if TYPE_CHECKING:
    from ..agent.run import AgentRun
    from ..agent.service import AgentService

RUN_ID = r"(?P<run_id>[0-9a-f]{1,64})"


def run_out(run: AgentRun) -> AgentRunOut:
    undo = run.undo_report
    return AgentRunOut(
        id=run.id,
        notebook=run.path,
        goal=run.goal,
        mode=run.mode,
        state=run.state,
        owner=run.owner,
        request_id=run.request_id,
        client=run.client,
        model=run.model,
        message=run.message,
        reason=run.reason,
        steps=[
            AgentStepOut(
                id=s.id,
                index=s.index,
                tool=s.tool,
                kind=s.kind,  # type: ignore[arg-type]
                arguments=s.arguments,
                status=s.status,
                summary=s.summary,
                cell_id=s.cell_id,
                diff=s.diff,
                code=s.code,
                result=s.result,
                reason=s.reason,
                approved_by=s.approved_by,
            )
            for s in run.steps
        ],
        pending=[s.id for s in run.pending],
        usage=AgentUsageOut(**vars(run.usage)),
        limits=AgentLimitsOut(**vars(run.limits)),
        can_undo=run.can_undo,
        undo=AgentUndoOut(**vars(undo)) if undo else None,
        created_at=run.created_at,
        ended_at=run.ended_at,
    )


class AgentHandler(NexusHandler):
    auth_resource = "nexus:agent"

    @property
    def agent(self) -> AgentService:
        service = self.nexus.agent
        if service is None:
            raise NexusError(
                503, "unavailable", "The agent needs a valid model routing file; /status names the problem."
            )
        return service

    async def readable(self, run_id: str) -> AgentRun:
        """The run, if the caller started it or may open its notebook (404/403 otherwise)."""
        run = self.agent.get(run_id)
        if run.owner != self.username:
            await check_notebook_access(self, run.path)
        return run


class AgentRunsHandler(AgentHandler):
    operations = {
        "post": Operation(
            "Start an agent turn in a notebook: it plans, edits and runs cells, asking before each change.",
            request=AgentRunCreate,
            response=AgentRunOut,
            status=201,
            rate_class="chat",
            description="Needs write access to the notebook (403) and a running kernel for it (400 "
            "`no_kernel`); an unknown notebook is 404, a goal over `AgentService.max_goal_chars` 413, a "
            "second turn while one works in the same notebook 409, mode `auto` where the administrator has "
            "not allowed it 403. Follow the turn with `GET /agent/runs/{id}` or the websocket's `agent.run` "
            "frames.",
        ),
        "get": Operation(
            "Agent turns: yours, or every turn in `?notebook=PATH` (which you must be able to open).",
            response=AgentRunList,
        ),
    }

    @web.authenticated
    @authorized
    async def post(self) -> None:
        body = self.read_model(AgentRunCreate)
        agent = self.agent
        agent.check_goal(body.goal)  # before touching the notebook: nothing to look up
        path = await check_notebook_access(self, body.notebook, "write")
        run = await agent.start(
            owner=self.username,
            display_name=display_name(self),
            path=path,
            goal=body.goal,
            mode=body.mode,
            user_id=await self.user_id(),
        )
        self.write_model(run_out(run), status=201)

    @web.authenticated
    @authorized
    async def get(self) -> None:
        notebook = self.get_query_argument("notebook", "")
        runs = list(self.agent.runs.values())
        if notebook:
            path = await check_notebook_access(self, notebook)
            runs = [r for r in runs if r.path == path]
        else:
            runs = [r for r in runs if r.owner == self.username]
        self.write_model(AgentRunList(runs=[run_out(r) for r in reversed(runs)]))


class AgentRunHandler(AgentHandler):
    operations = {
        "get": Operation(
            "One agent turn: its state, steps (tool, arguments, result, status) and pending approvals.",
            response=AgentRunOut,
        )
    }

    @web.authenticated
    @authorized
    async def get(self, run_id: str) -> None:
        self.write_model(run_out(await self.readable(run_id)))


class AgentApprovalHandler(AgentHandler):
    operations = {
        "post": Operation(
            "Approve or reject a step that waits for approval (or approve the rest of the turn).",
            request=AgentApproval,
            response=AgentRunOut,
            description="Only the turn's owner (403 for anyone else); a step that is not waiting is 409. A "
            "rejected step changes nothing, and its reason goes back to the model.",
        )
    }

    @web.authenticated
    @authorized
    async def post(self, run_id: str, step_id: str) -> None:
        body = self.read_model(AgentApproval)
        run = self.agent.decide(
            run_id, step_id, self.username, display_name(self), body.decision, body.reason
        )
        self.write_model(run_out(run))


class AgentStopHandler(AgentHandler):
    operations = {
        "post": Operation(
            "Stop a turn now: the model call is cancelled and a running cell interrupted.",
            response=AgentRunOut,
            description="Only the turn's owner (403). Stopping an ended turn changes nothing.",
        )
    }

    @web.authenticated
    @authorized
    async def post(self, run_id: str) -> None:
        run = await self.agent.stop(run_id, self.username, display_name(self))
        self.write_model(run_out(run))


class AgentUndoHandler(AgentHandler):
    operations = {
        "post": Operation(
            "Undo a whole turn: the notebook's cells and the kernel's variables as they were before it.",
            response=AgentRunOut,
            description="Only the turn's owner (403), only once it has ended (409), and only the latest turn "
            "of its notebook (409). Cells a person changed after the agent are kept; `undo` in the reply "
            "says what was restored and precisely what could not be.",
        )
    }

    @web.authenticated
    @authorized
    async def post(self, run_id: str) -> None:
        await self.agent.undo(run_id, self.username)
        self.write_model(run_out(self.agent.get(run_id)))


class AgentToolsHandler(AgentHandler):
    operations = {
        "get": Operation(
            "The agent's tools (name, what they change: `read`, `edit`, `run`, argument schema), whether "
            "the `auto` mode is allowed, and a turn's limits.",
            response=AgentToolList,
        )
    }

    @web.authenticated
    @authorized
    async def get(self) -> None:
        tools = [
            AgentToolOut(name=t.name, kind=t.kind, description=t.description, parameters=t.parameters)
            for t in self.agent.tools
        ]
        agent = self.agent
        self.write_model(
            AgentToolList(
                tools=tools, allow_auto=agent.auto_allowed, limits=AgentLimitsOut(**vars(agent.limits))
            )
        )


default_handlers = [
    (r"/nexus/api/v1/agent/runs", AgentRunsHandler),
    (rf"/nexus/api/v1/agent/runs/{RUN_ID}", AgentRunHandler),
    (rf"/nexus/api/v1/agent/runs/{RUN_ID}/approvals/(?P<step_id>[0-9a-f]{{1,64}})", AgentApprovalHandler),
    (rf"/nexus/api/v1/agent/runs/{RUN_ID}/stop", AgentStopHandler),
    (rf"/nexus/api/v1/agent/runs/{RUN_ID}/undo", AgentUndoHandler),
    (r"/nexus/api/v1/agent/tools", AgentToolsHandler),
]
