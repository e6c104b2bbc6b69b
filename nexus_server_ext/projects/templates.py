"""Project templates, written through Jupyter's ContentsManager (so any contents backend works).

A template is a list of files (text or notebook) relative to the project
folder, filled in with the project's name. Two ship: a data-analysis notebook
project and a Python package with tests.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import nbformat
from jupyter_server.utils import ensure_async

from .paths import slug

Files = dict[str, "str | Any"]  # path -> text, or an nbformat notebook node


@dataclass(frozen=True)
class ProjectTemplate:
    name: str
    title: str
    description: str
    files: Callable[[str], Files]


def _analysis_files(name: str) -> Files:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell(f"# {name}\n\nExplore the data in `data/` and record findings here."),
        nbformat.v4.new_code_cell("import csv\nfrom pathlib import Path\n\nDATA = Path('data')"),
        nbformat.v4.new_code_cell(
            "rows = list(csv.DictReader(open(DATA / 'sample.csv')))\nlen(rows), rows[0]"
        ),
    ]
    return {
        "README.md": f"# {name}\n\nA data-analysis project. Open `analysis.ipynb` to start.\n",
        "requirements.txt": "",
        "data/sample.csv": "x,y\n1,2\n2,4\n3,6\n",
        "analysis.ipynb": nb,
    }


def _package_files(name: str) -> Files:
    pkg = slug(name)
    return {
        "README.md": f"# {name}\n\nA Python package. Run the tests with `python -m pytest`.\n",
        "pyproject.toml": (
            '[build-system]\nrequires = ["setuptools>=68"]\nbuild-backend = "setuptools.build_meta"\n\n'
            f'[project]\nname = "{pkg}"\nversion = "0.1.0"\nrequires-python = ">=3.10"\n\n'
            '[tool.setuptools.packages.find]\nwhere = ["src"]\n'
        ),
        f"src/{pkg}/__init__.py": (f'"""{name}."""\n\n\ndef add(a: int, b: int) -> int:\n    return a + b\n'),
        f"tests/test_{pkg}.py": (
            f"from {pkg} import add\n\n\ndef test_add() -> None:\n    assert add(2, 3) == 5\n"
        ),
    }


TEMPLATES: dict[str, ProjectTemplate] = {
    t.name: t
    for t in (
        ProjectTemplate(
            "data-analysis", "Data analysis", "A notebook, a data folder and a README.", _analysis_files
        ),
        ProjectTemplate(
            "python-package",
            "Python package",
            "src/ layout, pyproject.toml and a pytest test.",
            _package_files,
        ),
    )
}


async def write_template(
    contents_manager: Any, template: ProjectTemplate, folder: str, name: str
) -> list[str]:
    """Create ``folder`` and the template's files in it; returns the written paths (root-relative)."""
    written: list[str] = []
    made: set[str] = set()

    async def ensure_dir(path: str) -> None:
        if not path or path in made:
            return
        parent = path.rsplit("/", 1)[0] if "/" in path else ""
        await ensure_dir(parent)
        if not await ensure_async(contents_manager.dir_exists(path)):
            await ensure_async(contents_manager.save({"type": "directory"}, path))
        made.add(path)

    await ensure_dir(folder)
    for rel, content in template.files(name).items():
        path = f"{folder}/{rel}"
        await ensure_dir(path.rsplit("/", 1)[0])
        if isinstance(content, str):
            model = {"type": "file", "format": "text", "content": content}
        else:
            model = {"type": "notebook", "content": content}
        await ensure_async(contents_manager.save(model, path))
        written.append(path)
    return written
