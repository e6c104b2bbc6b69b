"""NEXUS anywidget widgets (chat, voice recorder, model dashboard) for notebooks.

Each widget is a small anywidget class: synced traits plus a plain ESM file next
to it. The browser side sends messages (``chat``, ``audio``, ``refresh``); the
Python side answers them through the kernel's NEXUS transport, the same one the
``%nexus`` magics use, so a widget in a notebook served by NEXUS shares the
server's routing and history, and one in a plain kernel runs the engine in-process.
"""

from __future__ import annotations

from nexus_server_ext._version import __version__

from .chat import ChatWidget
from .dashboard import ModelDashboard
from .voice import VoiceRecorder

__all__ = ["ChatWidget", "ModelDashboard", "VoiceRecorder", "__version__"]
