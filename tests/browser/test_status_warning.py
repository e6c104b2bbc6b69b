"""The status bar's warning, as a user meets it: their model server is down, their chat answers
fail one after another, and after the third the status bar says so, why, and where to look (the
rules themselves are unit-tested in the frontend's ``status/warning`` tests)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from conftest import ARTIFACTS, LabServer, free_port, running_lab
from test_chat_panel import open_chat

# Every task on a model server that does not answer (nothing listens on its port), no local model
# behind it: what a user server on a hub sees while the team gateway is down.
ROUTING = """\
providers:
  gateway:
    kind: openai
    base_url: http://127.0.0.1:{port}/v1
    api_key: gateway-token
tasks:
  natural_language:
    chain: [{{provider: gateway, model: nexus-local}}]
  code_generation:
    chain: [{{provider: gateway, model: nexus-local}}]
  code_analysis:
    chain: [{{provider: gateway, model: nexus-local}}]
  completion:
    chain: [{{provider: gateway, model: nexus-local}}]
"""


@pytest.fixture(scope="module")
def lab_with_gateway_down(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    base = tmp_path_factory.mktemp("gateway-down")
    routing = base / "routing-down.yaml"
    routing.write_text(ROUTING.format(port=free_port()))
    with running_lab(base, extra_args=(f"--NexusApp.routing_file={routing}",)) as lab:
        yield lab


def test_failing_answers_raise_a_status_bar_warning_that_says_why(
    lab_with_gateway_down: Any, page: Any
) -> None:
    page.goto(lab_with_gateway_down.lab_url())
    panel = open_chat(page)
    warning = page.locator(".jp-nexus-answer-warning")
    prompt = panel.locator(".jp-nexus-input")
    shown = "document.querySelector('.jp-nexus-answer-warning')?.textContent || ''"
    for n, question in enumerate(("What is a list?", "What is a tuple?", "What is a dict?"), start=1):
        assert page.evaluate(shown) == "", "no warning before three answers have failed"
        prompt.fill(question)
        prompt.press("Enter")
        failed = "#nexus-chat .jp-nexus-message-assistant.jp-mod-error"
        page.wait_for_function(f"document.querySelectorAll('{failed}').length >= {n}", timeout=60_000)
        assert panel.locator(".jp-nexus-message-assistant.jp-mod-error").count() == n
    page.wait_for_function(f"({shown}).includes('failed')", timeout=10_000)
    label = warning.text_content() or ""
    assert label.startswith("NEXUS: 3 of the last 3 answers failed"), label
    assert "unreachable" in label or "no model could answer" in label, label
    assert warning.is_visible()
    assert "status" in (warning.get_attribute("title") or "").lower()  # where to look: the dialog
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "status_warning.png"))

    warning.click()  # opens the status dialog, which repeats the warning with its advice
    dialog = page.locator(".jp-Dialog")
    dialog.wait_for(timeout=10_000)
    repeated = dialog.locator(".jp-nexus-status-warning").text_content() or ""
    assert "3 of the last 3 answers failed" in repeated
