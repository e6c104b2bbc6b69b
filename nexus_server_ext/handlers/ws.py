"""``/ws``: the one authenticated websocket per client: ping, chat, generate, cancel and inline completion.

Frames are JSON objects with a ``type``. A malformed, wrongly typed, too deeply
nested, oversized or unknown frame gets an ``error`` frame naming the problem and
the socket stays open: one bad message from a buggy client must not cost the
user their session. Only a frame over four times the size limit is not read at
all: the socket closes with code 1009 (message too big).

Chat frames run through the consciousness core; every frame about a chat goes
to all of the user's sockets (their room), so a second tab follows the same
conversation, and ``conversation.message`` goes to the other tabs. Deltas are
batched to at most one frame per ~20 ms. ``cancel`` stops a request; closing
the socket stops all of its requests; a newer ``complete`` stops the previous one.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, ClassVar

from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.base.websocket import WebSocketMixin
from jupyter_server.utils import ensure_async
from pydantic import BaseModel, ValidationError
from tornado import web, websocket

try:  # jupyter_server >= 2.14
    from jupyter_server.auth.decorator import ws_authenticated
except ImportError:  # pragma: no cover
    from jupyter_server.base.handlers import ws_authenticated  # type: ignore[attr-defined,no-redef]

from ..api_models import (
    AgentApprovalFrame,
    AgentRunFrame,
    AgentStartFrame,
    AgentStopFrame,
    AgentUndoFrame,
    CancelFrame,
    ChatDoneFrame,
    ChatFrame,
    ChatStartedFrame,
    CompleteDoneFrame,
    CompleteFrame,
    DeltaFrame,
    ErrorFrame,
    GenerateDoneFrame,
    GenerateFrame,
    MessageBroadcastFrame,
    NotebookActivityBroadcastFrame,
    NotebookActivityFrame,
    NotebookJoinedFrame,
    NotebookJoinFrame,
    NotebookLeaveFrame,
    NotebookMembersFrame,
    PingFrame,
    PongFrame,
    RestartFrame,
    ServerEventFrame,
)
from ..errors import format_size
from .base import BadJSON, Operation, decode_json, validation_message
from .ws_agent import AGENT_FRAMES, handle_agent_frame
from .ws_notebooks import SocketNotebooks
from .ws_streams import SocketRequests

if TYPE_CHECKING:
    from ..registry import NexusServices

# A frame up to this many times ``max_ws_frame_bytes`` is read and answered ``frame_too_large``;
# a larger one closes the socket with 1009 (message too big) before the server buffers it.
FRAME_READ_FACTOR = 4


class NexusWebSocket(WebSocketMixin, websocket.WebSocketHandler, JupyterHandler):
    auth_resource = "nexus:chat"
    operations: ClassVar[dict[str, Operation]] = {
        "get": Operation(
            "Open the NEXUS websocket (upgrade). Client frames: `ping`, `chat`, `cancel`, `complete`, "
            "`generate`, `notebook.join`, `notebook.leave`, `notebook.activity`, `agent.start`, "
            "`agent.approval`, `agent.stop`, `agent.undo`; server frames: `pong`, `error`, `chat.started`, "
            "`chat.delta`, `chat.restart`, `chat.done`, `complete.delta`, `complete.done`, `generate.delta`, "
            "`generate.restart`, `generate.done`, `conversation.message`, `event`, `notebook.joined`, "
            "`notebook.members`, `notebook.activity`, `agent.run`.",
            description="Requires `execute` permission on `nexus:chat`; `generate` frames also on "
            "`nexus:generate`, `agent.*` frames on `nexus:agent`.",
        )
    }
    frame_types: ClassVar[dict[str, type[BaseModel]]] = {
        "ping": PingFrame,
        "chat": ChatFrame,
        "cancel": CancelFrame,
        "complete": CompleteFrame,
        "notebook.join": NotebookJoinFrame,
        "notebook.leave": NotebookLeaveFrame,
        "notebook.activity": NotebookActivityFrame,
        "generate": GenerateFrame,
        "agent.start": AgentStartFrame,
        "agent.approval": AgentApprovalFrame,
        "agent.stop": AgentStopFrame,
        "agent.undo": AgentUndoFrame,
    }
    # Every frame the server sends on this socket (the OpenAPI document's ``ServerFrame``).
    server_frame_types: ClassVar[tuple[type[BaseModel], ...]] = (
        PongFrame,
        ErrorFrame,
        ChatStartedFrame,
        DeltaFrame,
        RestartFrame,
        ChatDoneFrame,
        CompleteDoneFrame,
        GenerateDoneFrame,
        MessageBroadcastFrame,
        ServerEventFrame,
        NotebookJoinedFrame,
        NotebookMembersFrame,
        NotebookActivityBroadcastFrame,
        AgentRunFrame,
    )
    requests: SocketRequests | None = None
    notebooks: SocketNotebooks | None = None

    @property
    def nexus(self) -> NexusServices:
        return self.settings["nexus"]

    async def pre_get(self) -> None:
        authorized = await ensure_async(
            self.authorizer.is_authorized(self, self.current_user, "execute", self.auth_resource)
        )
        if not authorized:
            raise web.HTTPError(403)
        self.nexus.first_client()
        await self.nexus.ready()  # the chat uses the core and the stores (built off the event loop)

    @ws_authenticated
    async def get(self, *args: Any, **kwargs: Any) -> None:
        await self.pre_get()
        res = super().get(*args, **kwargs)
        if res is not None:
            await res

    @property
    def owner(self) -> str:
        return self.nexus.username_for(self.current_user)

    def open(self, *args: Any, **kwargs: Any) -> None:
        super().open(*args, **kwargs)
        self.requests = SocketRequests(self)
        self.notebooks = SocketNotebooks(self)
        if self.nexus.rooms is not None:
            self.nexus.rooms.join(self.owner, self)

    def on_close(self) -> None:
        if self.nexus.rooms is not None:
            self.nexus.rooms.leave(self.owner, self)
        if self.notebooks is not None:
            self.notebooks.leave_all()
        if self.requests is not None:
            self.requests.cancel_all()

    def to_room(self, frame: BaseModel) -> None:
        """A chat frame: to every tab of the user (``conversation.message``: to the other tabs)."""
        rooms = self.nexus.rooms
        if rooms is None:
            self.send(frame)
        elif isinstance(frame, MessageBroadcastFrame):
            rooms.send(self.owner, frame, exclude=self)
        else:
            rooms.send(self.owner, frame)

    def send(self, frame: BaseModel) -> None:
        with contextlib.suppress(websocket.WebSocketClosedError):
            self.write_message(frame.model_dump_json())

    @property
    def max_message_size(self) -> int:
        """Frames up to this size are read (and refused with an ``error`` frame when over the NEXUS
        limit); a larger one is not read at all: tornado closes the socket with code 1009."""
        return FRAME_READ_FACTOR * self.nexus.config.max_ws_frame_bytes

    def on_message(self, message: str | bytes) -> None:
        try:
            frame = self.parse_frame(message)
            if isinstance(frame, PingFrame):
                self.send(PongFrame(id=frame.id, server_time=datetime.now(timezone.utc)))
            elif isinstance(frame, (NotebookJoinFrame, NotebookLeaveFrame, NotebookActivityFrame)):
                if self.notebooks is not None:
                    self.nexus.background(asyncio.ensure_future(self.notebooks.handle(frame)))
            elif isinstance(frame, AGENT_FRAMES):
                self.nexus.background(asyncio.ensure_future(handle_agent_frame(self, frame)))
            elif frame is not None and self.requests is not None:
                self.requests.handle(frame)
        except Exception:  # a bug must cost one answer, never the user's socket
            self.log.exception("NEXUS websocket frame failed")
            self.send(ErrorFrame(error="internal_error", message="NEXUS could not handle this frame."))

    def parse_frame(self, message: str | bytes) -> BaseModel | None:
        """The frame as its model, or None after answering an ``error`` frame that names the problem."""
        limit = self.nexus.config.max_ws_frame_bytes
        if len(message) > limit:
            self.send(
                ErrorFrame(
                    error="frame_too_large",
                    message=f"The frame is {format_size(len(message))}; the limit is {format_size(limit)}.",
                )
            )
            return None
        try:
            data = decode_json(message, "The frame")
        except BadJSON as exc:
            self.send(ErrorFrame(error=exc.error, message=exc.message))
            return None
        if not isinstance(data, dict):
            self.send(ErrorFrame(error="invalid_frame", message="A frame must be a JSON object with a type."))
            return None
        kind = data.get("type")
        raw_id = data.get("id")
        request_id = raw_id if isinstance(raw_id, str) and len(raw_id) <= 64 else None
        model = self.frame_types.get(kind) if isinstance(kind, str) else None
        if model is None:
            known = ", ".join(sorted(self.frame_types))
            shown = repr(kind)[:40] if isinstance(kind, str) else f"of type {type(kind).__name__}"
            self.send(
                ErrorFrame(
                    error="unknown_frame",
                    message=f"Unknown frame type {shown}; expected {known}.",
                    id=request_id,
                )
            )
            return None
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            self.send(ErrorFrame(error="invalid_frame", message=validation_message(exc), id=request_id))
            return None


default_handlers = [(r"/nexus/api/v1/ws", NexusWebSocket)]
