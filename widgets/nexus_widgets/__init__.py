"""NEXUS anywidget widgets (chat, voice recorder, model dashboard) for notebooks."""

from __future__ import annotations

from nexus_server_ext._version import __version__

__all__ = ["__version__"]
