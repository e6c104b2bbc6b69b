"""Projects: templates, root-confined paths, git, per-project environments and kernels, and a file watcher.

``ProjectManager`` and its errors are imported on first use: the manager loads
SQLAlchemy, which a server start does not pay for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .paths import PathRefused, resolve_in_root
from .watcher import FileChange, FileWatcher

if TYPE_CHECKING:
    from .manager import ProjectExists, ProjectManager, ProjectNotFound

__all__ = [
    "FileChange",
    "FileWatcher",
    "PathRefused",
    "ProjectExists",
    "ProjectManager",
    "ProjectNotFound",
    "resolve_in_root",
]


def __getattr__(name: str) -> Any:
    if name in ("ProjectExists", "ProjectManager", "ProjectNotFound"):
        from . import manager

        return getattr(manager, name)
    raise AttributeError(name)
