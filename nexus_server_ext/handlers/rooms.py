"""Websocket rooms: every open NEXUS socket of a user, so their other tabs see the same conversation.

Frames are sent as already-serialised JSON strings; a socket that closed
between the lookup and the write is skipped, never an error for the sender.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel
from tornado import websocket


class Rooms:
    def __init__(self) -> None:
        self._members: dict[str, set[Any]] = {}

    def join(self, room: str, socket: Any) -> None:
        self._members.setdefault(room, set()).add(socket)

    def leave(self, room: str, socket: Any) -> None:
        members = self._members.get(room)
        if members is not None:
            members.discard(socket)
            if not members:
                del self._members[room]

    def members(self, room: str) -> list[Any]:
        return list(self._members.get(room, ()))

    def send(self, room: str, frame: BaseModel, exclude: Any = None) -> int:
        """Send ``frame`` to every socket in ``room`` except ``exclude``; returns how many got it."""
        data = frame.model_dump_json()
        sent = 0
        for socket in self.members(room):
            if socket is exclude:
                continue
            with contextlib.suppress(websocket.WebSocketClosedError):
                socket.write_message(data)
                sent += 1
        return sent


class DeltaBatcher:
    """Coalesce text deltas: at most one frame per ``interval`` seconds (a burst of tokens = one frame)."""

    def __init__(self, emit: Callable[[str], None], interval: float = 0.02) -> None:
        self.emit = emit
        self.interval = interval
        self._buffer: list[str] = []
        self._timer: asyncio.TimerHandle | None = None

    def add(self, text: str) -> None:
        self._buffer.append(text)
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.interval, self.flush)

    def flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._buffer:
            text = "".join(self._buffer)
            self._buffer.clear()
            self.emit(text)
