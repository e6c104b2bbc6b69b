"""JupyterLab in a real browser shows NEXUS and its health."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from conftest import ARTIFACTS, ROUTING, running_lab

SETTLED = (
    "document.querySelector('.jp-nexus-health')?.textContent.startsWith('NEXUS ') "
    "&& !document.querySelector('.jp-nexus-health').textContent.includes('…')"
)
# Every text the status item shows, in order, recorded from before the page's own scripts run.
RECORD_LABELS = """
window.nexusLabels = [];
window.nexusProgress = [];
new MutationObserver(() => {
  const text = document.querySelector('.jp-nexus-health')?.textContent;
  if (text && window.nexusLabels[window.nexusLabels.length - 1] !== text) window.nexusLabels.push(text);
  for (const item of document.querySelectorAll('.jp-nexus-progress-item')) {
    const seen = `${item.dataset.kind}:${item.dataset.state}`;
    if (!window.nexusProgress.includes(seen)) window.nexusProgress.push(seen);
  }
}).observe(document, { subtree: true, childList: true, characterData: true });
"""


def test_lab_shows_nexus_health_in_the_status_bar(lab_server: Any, page: Any) -> None:
    page.goto(lab_server.lab_url())
    item = page.locator(".jp-nexus-health")
    item.wait_for(timeout=60_000)
    page.wait_for_function(
        "document.querySelector('.jp-nexus-health').textContent.startsWith('NEXUS ') "
        "&& !document.querySelector('.jp-nexus-health').textContent.includes('…')",
        timeout=30_000,
    )
    text = item.text_content()
    assert text in ("NEXUS ready",) or text.startswith("NEXUS ("), text
    assert item.get_attribute("data-severity") in ("ok", "degraded")
    assert "Storage: sqlite ok" in (item.get_attribute("title") or "")

    item.click()  # the status item opens "NEXUS: Show status": tables, not a text dump
    dialog = page.locator(".jp-Dialog .jp-nexus-status")
    dialog.wait_for(timeout=10_000)
    components = dialog.get_by_role("table", name="Components")
    local = components.locator("tbody tr", has_text="local model")
    assert local.locator(".jp-nexus-status-state").get_attribute("data-state") == "ok"
    assert "loaded on" in local.text_content()
    # each task's chain in order, each step marked (no keys, no gateway: the shipped chain offline)
    chat = dialog.get_by_role("table", name="Models").locator("tr:has(td[title=natural_language])")
    assert chat.locator("td").first.text_content() == "Chat"
    steps = chat.locator(".jp-nexus-status-chain li")
    assert steps.locator("code").all_text_contents() == [
        "gateway/nexus-local",
        "anthropic/claude-3-5-haiku-latest",
        "local/SmolLM2-135M-Instruct",
    ]
    marks = steps.locator(".jp-nexus-status-mark").all_text_contents()
    assert marks == ["not configured", "no key", "configured"]
    assert steps.nth(2).locator(".jp-nexus-status-answers").is_visible()
    assert dialog.locator(".jp-nexus-status-keys").text_content() == (
        "OpenAI and Anthropic have no key: code generation, chat, code analysis and the agent answer with "
        "the local model (SmolLM2-135M-Instruct). Set keys with NEXUS: Set provider API key."
    )
    assert "sqlite" in dialog.locator("h3:text-is('Storage') + p").text_content()
    assert dialog.locator("h3:text-is('MCP servers') + p").text_content().startswith("None")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "status-dialog.png"))
    dialog.locator("h3:text-is('MCP servers')").scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "status-dialog-end.png"))

    # the dialog's button runs "NEXUS: Set provider API key": its provider picker opens
    page.locator(".jp-Dialog button", has_text="Set provider API key").click()
    picker = page.locator(".jp-Dialog select")
    picker.wait_for(timeout=10_000)
    assert any(o.startswith("openai") for o in picker.locator("option").all_text_contents())
    page.locator(".jp-Dialog .jp-mod-reject").click()


def test_opening_lab_loads_the_model_and_the_status_bar_follows_it(tmp_path: Path, page: Any) -> None:
    # llama.cpp loads the bundled model in well under a second, often before the page asks again;
    # transformers takes seconds on the same file, so the loading state is there to be seen.
    routing = tmp_path / "routing-transformers.yaml"
    routing.write_text(ROUTING.read_text().replace("backend: llama_cpp", "backend: transformers"))
    assert "backend: transformers" in routing.read_text()
    # A fresh server that nobody has talked to: the page's first status request starts the load.
    env = {"NEXUS_PRELOAD_MODEL": "first-client"}
    args = (f"--NexusApp.routing_file={routing}",)
    with running_lab(tmp_path / "lab", env, wait_for_model=False, extra_args=args) as lab:
        page.add_init_script(RECORD_LABELS)
        page.goto(lab.lab_url())
        page.wait_for_function(SETTLED, timeout=180_000)  # polled every second while it loads
        labels = page.evaluate("window.nexusLabels")
        # The label follows /status, polled every second: a load that ends between two polls (a warm
        # machine) is shown by the progress bar below, which follows the load's own events.
        if "NEXUS: loading model..." in labels:
            assert labels.index("NEXUS: loading model...") < len(labels) - 1, labels
        settled = labels[-1]
        assert settled == "NEXUS ready" or settled.startswith("NEXUS ("), labels
        assert "local_model: ok - loaded on" in (
            page.locator(".jp-nexus-health").get_attribute("title") or ""
        )
        # a progress bar while it loaded (model/v1 events; /status for a load begun before the page
        # subscribed to the bus), then its end
        try:
            page.wait_for_function("window.nexusProgress.includes('model:succeeded')", timeout=30_000)
        except Exception:
            raise AssertionError(
                f"progress {page.evaluate('window.nexusProgress')}, labels {labels}"
            ) from None
        assert page.evaluate("window.nexusProgress")[0] == "model:running"
