"""Agent turns on the websocket: the ``agent.*`` client frames, and ``agent.run`` frames to followers.

Every change to a turn goes, as one ``agent.run`` frame holding the whole turn,
to its owner's sockets and to every socket following its notebook (each socket
once). The model's words arrive token by token; they are coalesced to at most
one frame per ``interval`` so a fast model does not flood the sockets.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

from jupyter_server.utils import ensure_async
from pydantic import BaseModel
from tornado import websocket

from ..api_models import (
    AgentApprovalFrame,
    AgentRunFrame,
    AgentStartFrame,
    AgentStopFrame,
    AgentUndoFrame,
    ErrorFrame,
)
from ..collab.access import check_notebook_access
from ..errors import NexusError
from .agent import run_out
from .base import display_name

if TYPE_CHECKING:
    from ..agent.run import AgentRun
    from ..registry import NexusServices
    from .ws_socket import NexusSocket

log = logging.getLogger(__name__)

AGENT_FRAMES = (AgentStartFrame, AgentApprovalFrame, AgentStopFrame, AgentUndoFrame)


class AgentAnnouncer:
    """The agent service's ``announce``: ``agent.run`` frames to the owner and the notebook's followers."""

    def __init__(self, services: NexusServices, interval: float = 0.05) -> None:
        self.services = services
        self.interval = interval
        self._pending: dict[str, str] = {}  # run id -> words not sent yet
        self._timers: dict[str, asyncio.TimerHandle] = {}

    def __call__(self, run: AgentRun, delta: str | None) -> None:
        if delta is not None:
            self._pending[run.id] = self._pending.get(run.id, "") + delta
            if run.id not in self._timers:
                loop = asyncio.get_running_loop()
                self._timers[run.id] = loop.call_later(self.interval, self._flush, run)
            return
        self._flush(run)

    def _flush(self, run: AgentRun) -> None:
        timer = self._timers.pop(run.id, None)
        if timer is not None:
            timer.cancel()
        delta = self._pending.pop(run.id, None)
        data = AgentRunFrame(run=run_out(run), delta=delta or None).model_dump_json()
        sockets: set[Any] = set()
        if self.services.rooms is not None:
            sockets.update(self.services.rooms.members(run.owner))
        if self.services.notebook_rooms is not None:
            sockets.update(self.services.notebook_rooms.members(run.path))
        for socket in sockets:
            with contextlib.suppress(websocket.WebSocketClosedError):
                socket.write_message(data)


async def handle_agent_frame(socket: NexusSocket, frame: BaseModel) -> None:
    """One ``agent.*`` frame; a refusal is an ``error`` frame naming the problem (the socket stays)."""
    request_id = getattr(frame, "id", None) or getattr(frame, "run_id", None)
    try:
        allowed = await ensure_async(
            socket.authorizer.is_authorized(socket, socket.current_user, "execute", "nexus:agent")
        )
        if not allowed:
            raise NexusError(403, "forbidden", "You may not use the agent.")
        agent = socket.nexus.agent
        if agent is None:
            raise NexusError(503, "unavailable", "The agent needs a valid model routing file.")
        who = display_name(socket)
        if isinstance(frame, AgentStartFrame):
            agent.check_goal(frame.goal)
            path = await check_notebook_access(socket, frame.notebook, "write")
            user_id = await socket.nexus.users.ensure(socket.owner, "")
            await agent.start(
                owner=socket.owner,
                display_name=who,
                path=path,
                goal=frame.goal,
                mode=frame.mode,
                user_id=user_id,
                request_id=frame.id,
            )
        elif isinstance(frame, AgentApprovalFrame):
            agent.decide(frame.run_id, frame.step_id, socket.owner, who, frame.decision, frame.reason)
        elif isinstance(frame, AgentStopFrame):
            await agent.stop(frame.run_id, socket.owner, who)
        elif isinstance(frame, AgentUndoFrame):
            await agent.undo(frame.run_id, socket.owner)
    except NexusError as exc:
        socket.send(ErrorFrame(error=exc.error, message=exc.message, id=request_id))
    except Exception:
        log.exception("NEXUS agent frame failed")
        socket.send(
            ErrorFrame(error="internal_error", message="NEXUS could not handle this frame.", id=request_id)
        )
