"""NEXUS: an AI assistant that lives inside Jupyter.

This module is imported by every Jupyter server start, so it stays tiny: the
extension app (and everything heavy behind it) is imported only when Jupyter
asks for the extension points.
"""

from __future__ import annotations

from typing import Any

from ._version import __version__

__all__ = ["__version__"]


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    from .app import NexusApp

    return [{"module": "nexus_server_ext", "app": NexusApp}]


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    return [{"src": "labextension", "dest": "nexus-jupyterlab"}]
