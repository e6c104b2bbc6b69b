"""The NEXUS model gateway (``python -m nexus_server_ext.gateway --port N``); see ``gateway.app``."""

from __future__ import annotations

from .app import Gateway, make_app

__all__ = ["Gateway", "make_app"]
