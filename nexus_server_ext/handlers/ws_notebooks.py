"""The notebook chats one websocket follows: join, leave, activity, and who else is there.

A notebook chat's room holds the sockets of everyone following it; access is
the notebook's own (``collab.access``), checked when joining and again for
every message posted, so losing access to the notebook also closes its chat.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from ..api_models import (
    ErrorFrame,
    NotebookActivityBroadcastFrame,
    NotebookActivityFrame,
    NotebookJoinedFrame,
    NotebookJoinFrame,
    NotebookLeaveFrame,
    NotebookMembersFrame,
)
from ..collab.access import check_notebook_access
from ..errors import NexusError

if TYPE_CHECKING:
    from .rooms import Rooms
    from .ws_socket import NexusSocket

log = logging.getLogger(__name__)


class SocketNotebooks:
    def __init__(self, socket: NexusSocket) -> None:
        self.socket = socket
        self.joined: set[str] = set()

    @property
    def rooms(self) -> Rooms:
        rooms = self.socket.nexus.notebook_rooms
        assert rooms is not None  # built with the services
        return rooms

    def display_name(self) -> str:
        """Who asked, as the notebook chat names them: a single-user server's owner, else the identity
        provider's display name."""
        if self.socket.nexus.owner_name:
            return str(self.socket.nexus.owner_name)
        user = self.socket.current_user
        return str(getattr(user, "display_name", "") or getattr(user, "name", "") or self.socket.owner)

    async def allowed(self, path: str, request_id: str | None = None) -> str | None:
        """The clean path if the socket's user may open the notebook; else an ``error`` frame and None."""
        try:
            return await check_notebook_access(self.socket, path)
        except NexusError as exc:
            self.socket.send(ErrorFrame(error=exc.error, message=exc.message, id=request_id))
            return None

    async def handle(self, frame: BaseModel) -> None:
        if isinstance(frame, NotebookJoinFrame):
            await self.join(frame.path)
        elif isinstance(frame, NotebookLeaveFrame):
            self.leave(frame.path)
        elif isinstance(frame, NotebookActivityFrame):
            await self.activity(frame)

    async def join(self, path: str) -> None:
        clean = await self.allowed(path)
        if clean is None:
            return
        nexus = self.socket.nexus
        user_id = await nexus.users.ensure(self.socket.owner, "" if nexus.owner_name else self.display_name())
        conversation = await nexus.conversations.notebook_chat(clean, user_id)
        self.rooms.join(clean, self.socket)
        self.joined.add(clean)
        members = self.members(clean)
        self.socket.send(NotebookJoinedFrame(path=clean, conversation_id=conversation.id, members=members))
        self.rooms.send(clean, NotebookMembersFrame(path=clean, members=members), exclude=self.socket)

    def leave(self, path: str) -> None:
        for clean in [p for p in self.joined if p == path.strip().lstrip("/")]:
            self.joined.discard(clean)
            self.rooms.leave(clean, self.socket)
            self.rooms.send(clean, NotebookMembersFrame(path=clean, members=self.members(clean)))

    def leave_all(self) -> None:
        for path in list(self.joined):
            self.leave(path)

    async def activity(self, frame: NotebookActivityFrame) -> None:
        clean = await self.allowed(frame.path)
        if clean is None:
            return
        out = NotebookActivityBroadcastFrame(
            path=clean,
            author=self.display_name(),
            action=frame.action,
            message_id=frame.message_id,
            cell_id=frame.cell_id,
        )
        self.rooms.send(clean, out, exclude=self.socket)

    def members(self, path: str) -> list[str]:
        names = {
            s.notebooks.display_name() for s in self.rooms.members(path) if getattr(s, "notebooks", None)
        }
        return sorted(names)

    def send(self, path: str, frame: BaseModel, exclude: Any = None) -> None:
        """A frame about the notebook's chat: to everyone following it, and to this socket in any case."""
        sent_here = self.socket in self.rooms.members(path) and exclude is not self.socket
        self.rooms.send(path, frame, exclude=exclude)
        if not sent_here and exclude is not self.socket:
            self.socket.send(frame)
