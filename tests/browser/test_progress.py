"""Live progress in JupyterLab: learning a folder shows a progress bar (Jupyter's event bus) with Cancel."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

from conftest import ARTIFACTS

BAR = ".jp-nexus-progress-item[data-kind='learn']"


def write_folder(folder: Path, modules: int) -> None:
    folder.mkdir()
    for i in range(modules):
        functions = "\n\n".join(
            f'def stage_{i}_{j}(rows):\n    """Stage {j} of report {i}: totals above {j * 11}."""\n'
            f"    return sum(r for r in rows if r > {j * 11})\n"
            for j in range(8)
        )
        (folder / f"report_{i:03d}.py").write_text(functions)


def api(lab: Any, path: str, body: dict[str, Any] | None = None) -> Any:
    request = urllib.request.Request(
        f"{lab.url}nexus/api/v1/{path}",
        data=None if body is None else json.dumps(body).encode(),
        method="GET" if body is None else "POST",
        headers={"Authorization": f"token {lab.token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as reply:
        return json.loads(reply.read())


def open_lab(lab: Any, page: Any) -> None:
    page.goto(lab.lab_url())
    page.locator(".jp-nexus-health").wait_for(timeout=60_000)
    page.locator(".jp-nexus-progress").wait_for(state="attached", timeout=60_000)


def test_learning_a_folder_shows_a_progress_bar_until_it_is_done(lab_server: Any, page: Any) -> None:
    write_folder(lab_server.root / "reports", 150)
    open_lab(lab_server, page)
    job = api(lab_server, "memory/learn", {"path": "reports"})

    bar = page.locator(BAR)
    bar.wait_for(timeout=120_000)
    page.wait_for_function(
        f'document.querySelector("{BAR} progress")?.value > 0', timeout=120_000
    )  # it moves as files are indexed
    assert bar.locator(".jp-nexus-progress-label").text_content() == "Learning reports"
    assert "/150 files" in (bar.locator(".jp-nexus-progress-message").text_content() or "")
    assert bar.locator(".jp-nexus-progress-cancel").is_visible()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "progress-learning-a-folder.png"))

    bar.wait_for(state="detached", timeout=300_000)  # gone once learning is done
    task = api(lab_server, f"tasks/{job['task_id']}")
    assert task["state"] == "succeeded" and task["result"]["files_indexed"] == 150


def test_cancel_on_the_progress_bar_stops_learning(lab_server: Any, page: Any) -> None:
    write_folder(lab_server.root / "archive", 400)
    open_lab(lab_server, page)
    job = api(lab_server, "memory/learn", {"path": "archive"})

    bar = page.locator(BAR)
    bar.wait_for(timeout=120_000)
    bar.locator(".jp-nexus-progress-cancel").click()
    page.wait_for_selector(f"{BAR}[data-state='cancelled']", timeout=60_000)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "progress-cancelled.png"))
    bar.wait_for(state="detached", timeout=30_000)
    task = api(lab_server, f"tasks/{job['task_id']}")
    assert task["state"] == "cancelled"
    assert api(lab_server, f"memory/learn/{job['id']}")["files_done"] < 400
