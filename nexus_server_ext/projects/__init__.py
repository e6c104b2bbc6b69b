"""Projects: templates, root-confined paths, git, per-project environments and kernels, and a file watcher."""

from __future__ import annotations

from .manager import ProjectExists, ProjectManager, ProjectNotFound
from .paths import PathRefused, resolve_in_root
from .watcher import FileChange, FileWatcher

__all__ = [
    "FileChange",
    "FileWatcher",
    "PathRefused",
    "ProjectExists",
    "ProjectManager",
    "ProjectNotFound",
    "resolve_in_root",
]
