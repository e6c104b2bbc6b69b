"""ChatWidget rendered by JupyterLab in chromium, answering a question typed into it.

The notebook's kernel is started by the lab server, so the widget's answer travels
kernel -> NEXUS REST API of that server -> the bundled model.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from conftest import LabServer, running_lab
from nbformat.v4 import new_code_cell, new_notebook

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "kernel"))
from kernel_helpers import fast_routing_file


@pytest.fixture(scope="module")
def lab_with_model(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    base = tmp_path_factory.mktemp("lab-chat")
    env = {"NEXUS_ROUTING_FILE": str(fast_routing_file(base)), "NEXUS_PRELOAD_MODEL": "1"}
    with running_lab(base, env) as lab:
        yield lab


def wait_for_document(page: Any, text: str, timeout_s: float = 180) -> None:
    """Until the notebook's text is shown. On a busy machine the collaboration extension may ask
    whether to keep waiting for the document to sync: the answer is yes."""
    deadline = time.monotonic() + timeout_s
    cell = page.locator(".jp-Notebook .jp-Cell .cm-content").first
    keep_waiting = page.get_by_role("button", name="Continue waiting")
    while time.monotonic() < deadline:
        if keep_waiting.count():
            keep_waiting.first.click()
        if cell.count() and text in (cell.text_content() or ""):
            return
        page.wait_for_timeout(500)
    raise AssertionError(f"the notebook did not load within {timeout_s} s")


def test_chat_widget_answers_in_jupyterlab(lab_with_model: LabServer, page: Any) -> None:
    nb = new_notebook(
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
    )
    nb.cells = [new_code_cell("from nexus_widgets import ChatWidget\nchat = ChatWidget(max_tokens=16)\nchat")]
    nbformat.write(nb, lab_with_model.root / "chat.ipynb")

    page.goto(lab_with_model.lab_url("lab/tree/chat.ipynb"))
    wait_for_document(page, "ChatWidget(max_tokens=16)")
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=120_000)
    page.locator(".jp-Notebook .jp-Cell").first.click()
    page.keyboard.press("Shift+Enter")

    box = page.locator(".nexus-chat-input")
    box.wait_for(timeout=120_000)
    box.fill("Say hello.")
    box.press("Enter")
    page.locator(".nexus-chat-user").wait_for(timeout=30_000)
    assert page.locator(".nexus-chat-user").text_content() == "Say hello."
    meta = page.locator(".nexus-chat-assistant .nexus-chat-meta")
    meta.wait_for(timeout=600_000)
    assert "local/SmolLM2-135M-Instruct" in (meta.text_content() or "")
    answer = page.locator(".nexus-chat-assistant .nexus-chat-text").text_content() or ""
    assert answer.strip() and answer != "…"
    assert page.locator(".nexus-chat-error").text_content() == ""
