"""JupyterLab in a real browser shows NEXUS and its health."""

from __future__ import annotations

from typing import Any


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

    page.keyboard.press("Control+Shift+C")
    page.locator(".lm-CommandPalette-input").fill("NEXUS: Show status")
    page.keyboard.press("Enter")
    dialog = page.locator(".jp-Dialog .jp-nexus-status-details")
    dialog.wait_for(timeout=10_000)
    assert "code_generation:" in dialog.text_content()
