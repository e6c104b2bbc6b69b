"""The NEXUS model gateway (``python -m nexus_server_ext.gateway --port N``); see ``gateway.app``."""

from __future__ import annotations

from .app import make_app
from .base import Gateway

__all__ = ["Gateway", "make_app"]
