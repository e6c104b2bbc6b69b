"""Root confinement: the escape cases a request could try."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from nexus_server_ext.projects.paths import PathRefused, check_name, resolve_in_root


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "root" / "inside").mkdir(parents=True)
    (tmp_path / "outside").mkdir()
    os.symlink(tmp_path / "outside", tmp_path / "root" / "escape")
    os.symlink(tmp_path / "root" / "inside", tmp_path / "root" / "alias")
    return tmp_path / "root"


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("../outside", "'..'"),
        ("inside/../../outside", "'..'"),
        ("/etc/passwd", "absolute"),
        ("~/x", "absolute"),
        ("C:/Windows", "absolute"),
        ("inside\\..\\..\\x", "not allowed"),
        (".ssh/id_rsa", "hidden"),
        ("inside/.git/config", "hidden"),
        ("escape/secret.txt", "outside the server root"),
        ("escape", "outside the server root"),
        ("inside/\x00x", "not allowed"),
        ("", "required"),
    ],
)
def test_escapes_are_refused(root: Path, path: str, reason: str) -> None:
    with pytest.raises(PathRefused, match=reason):
        resolve_in_root(root, path)


def test_paths_inside_resolve_including_symlinks_that_stay_inside(root: Path) -> None:
    real, rel = resolve_in_root(root, "inside/new/file.txt")
    assert real == root.resolve() / "inside" / "new" / "file.txt" and rel == "inside/new/file.txt"
    real, rel = resolve_in_root(root, "alias/x.py")
    assert rel == "inside/x.py"
    assert resolve_in_root(root, "./inside")[1] == "inside"


def test_project_names() -> None:
    assert check_name(" My Project 2 ") == "My Project 2"
    for bad in (".hidden", "a/b", "..", "x" * 101, "name.", "-flag"):
        with pytest.raises(PathRefused):
            check_name(bad)
