"""Root confinement: every path from a request is resolved against the server root and refused outside it.

Refused: absolute paths, drive letters, backslashes, ``..`` components, hidden
components (``.git``, ``.ssh``...), NUL bytes, and anything whose real path
(symlinks followed) leaves the root. The check runs on the resolved path, so a
symlink planted inside the root cannot be used to step out of it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path, PurePosixPath

_DRIVE = re.compile(r"^[A-Za-z]:")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.-]{0,99}$")


class PathRefused(ValueError):
    """A request path that would leave the root or touch a hidden file; the message is safe to show."""


def resolve_in_root(root: str | Path, relative: str, *, allow_hidden: bool = False) -> tuple[Path, str]:
    """(real absolute path, normalised root-relative POSIX path) for ``relative``, or ``PathRefused``."""
    if not isinstance(relative, str) or not relative.strip():
        raise PathRefused("a path is required")
    if "\x00" in relative or "\\" in relative:
        raise PathRefused("the path contains characters that are not allowed")
    if relative.startswith(("/", "~")) or _DRIVE.match(relative):
        raise PathRefused("absolute paths are not allowed; give a path relative to the server root")
    parts = PurePosixPath(relative).parts
    if any(p == ".." for p in parts):
        raise PathRefused("'..' is not allowed in paths")
    if not allow_hidden and any(p.startswith(".") for p in parts):
        raise PathRefused("hidden files and folders cannot be used")
    root_real = Path(os.path.realpath(root))
    real = Path(os.path.realpath(root_real.joinpath(*parts)))
    if real != root_real and root_real not in real.parents:
        raise PathRefused("the path leads outside the server root")
    return real, real.relative_to(root_real).as_posix() if real != root_real else ""


def check_name(name: str) -> str:
    """A project name usable as a folder name: letters, digits, space, ``_ . -``; not hidden."""
    name = name.strip()
    if not _NAME.match(name) or name.endswith("."):
        raise PathRefused(
            "a project name starts with a letter or digit and has only letters, digits, spaces, '_', '.', '-'"
        )
    return name


def slug(name: str) -> str:
    """``My Project`` -> ``my_project``: a Python package / kernel name."""
    out = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
    return out if out and not out[0].isdigit() else f"p_{out}"
