"""What the websocket's helpers (``ws_streams``, ``ws_notebooks``) need of the socket.

A protocol, so those modules depend on this small surface instead of the
handler class that creates them (no import circle with ``ws.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel

if TYPE_CHECKING:
    from ..registry import NexusServices
    from .ws_notebooks import SocketNotebooks


class NexusSocket(Protocol):
    @property
    def nexus(self) -> NexusServices: ...

    @property
    def owner(self) -> str:
        """The user's NEXUS name (their storage and rate-limit key)."""
        ...

    @property
    def current_user(self) -> Any: ...

    @property
    def authorizer(self) -> Any:
        """Jupyter's authorizer (permissions beyond the socket's own ``nexus:chat``)."""
        ...

    # The notebook chats this socket follows (None before the socket opened).
    notebooks: SocketNotebooks | None

    def send(self, frame: BaseModel) -> None:
        """To this socket only."""
        ...

    def to_room(self, frame: BaseModel) -> None:
        """A private chat's frame: to every tab of the user."""
        ...
