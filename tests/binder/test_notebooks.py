"""Every demo notebook runs top to bottom with nbclient, and shows what it promises."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "binder" / "notebooks"
sys.path.insert(0, str(ROOT / "tests" / "kernel"))
from kernel_helpers import fast_routing_file  # noqa: E402


def execute(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    monkeypatch.setenv("NEXUS_TRANSPORT", "in-process")
    monkeypatch.setenv("NEXUS_ROUTING_FILE", str(fast_routing_file(tmp_path)))
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    NotebookClient(
        nb, kernel_name="python3", timeout=900, resources={"metadata": {"path": str(NOTEBOOKS)}}
    ).execute()
    return [cell for cell in nb.cells if cell.cell_type == "code"]


def text(cell: Any) -> str:
    parts = []
    for out in cell.outputs:
        if out.output_type == "stream":
            parts.append(out.text)
        elif "data" in out:
            parts.append(out.data.get("text/markdown") or out.data.get("text/plain", ""))
    return "\n".join(parts)


def nexus_meta(cell: Any) -> dict[str, Any]:
    [meta] = [o.metadata["nexus"] for o in cell.outputs if "nexus" in o.get("metadata", {})]
    return dict(meta)


def by_source(cells: list[Any], start: str) -> Any:
    return next(c for c in cells if c.source.startswith(start))


def test_getting_started(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from nexus_kernel.transport import prompt_hash

    cells = execute("01-getting-started.ipynb", tmp_path, monkeypatch)
    assert "answers come from in-process" in text(by_source(cells, "%nexus status"))
    assert "generate" in text(by_source(cells, "%nexus help"))
    ask = nexus_meta(by_source(cells, "library ="))
    assert ask["prompt_hash"] == prompt_hash("natural_language", "In one sentence: what is pandas?", {})
    assert ask["model"] == "SmolLM2-135M-Instruct"
    generate = by_source(cells, "%%nexus generate")
    assert (
        "The code is in the next cell" in text(generate) and nexus_meta(generate)["task"] == "code_generation"
    )
    failing = by_source(cells, "total, count")
    assert failing.outputs[0].ename == "ZeroDivisionError"
    fix = by_source(cells, "%nexus fix")
    assert "mean = total / count" in text(fix) and nexus_meta(fix)["task"] == "code_analysis"
    assert "local/SmolLM2-135M-Instruct: usable" in text(by_source(cells, "%nexus models"))
    history = text(by_source(cells, "%nexus history"))
    assert "1. %nexus ask" in history and "2. %nexus generate" in history and "3. %nexus fix" in history


def test_widgets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cells = execute("02-widgets.ipynb", tmp_path, monkeypatch)
    views = [
        o for c in cells for o in c.outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})
    ]
    shown = {o["data"]["text/plain"].split(" object")[0].rsplit(".", 1)[-1] for o in views}
    assert shown == {"ChatWidget", "ModelDashboard", "VoiceRecorder"}, shown
    assert "SmolLM2-135M-Instruct answered:" in text(by_source(cells, "answer = chat.ask"))
    assert "'code_generation'" in text(by_source(cells, '[(t["task"]'))


def test_voice_from_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cells = execute("03-voice-from-a-file.ipynb", tmp_path, monkeypatch)
    assert "cell" in text(cells[0]).lower()
    assert "'name': 'run-cell'" in text(cells[1])


def test_learn_a_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cells = execute("04-learn-a-folder.ipynb", tmp_path, monkeypatch)
    assert "Learned 3 chunks from 3 files" in text(by_source(cells, "%nexus learn"))
    assert "README.md" in text(by_source(cells, "hits[0]"))
    ask = by_source(cells, "%nexus ask")
    assert nexus_meta(ask)["model"] == "SmolLM2-135M-Instruct" and text(ask).strip()
