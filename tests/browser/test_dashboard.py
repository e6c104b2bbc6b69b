"""The model dashboard panel in a real JupyterLab plots the server's numbers over time."""

from __future__ import annotations

import json
import urllib.request
import uuid
from pathlib import Path
from typing import Any

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def generate(lab: Any, prompt: str) -> dict[str, Any]:
    req = urllib.request.Request(
        f"{lab.url}nexus/api/v1/generate",
        data=json.dumps({"task": "natural_language", "prompt": prompt, "max_tokens": 24}).encode(),
        method="POST",
        headers={"Authorization": f"token {lab.token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=300) as reply:
        return dict(json.loads(reply.read()))


def test_the_dashboard_panel_plots_latency_speed_fallbacks_and_queue(lab_server: Any, page: Any) -> None:
    for prompt in ("Name a prime number.", "Name a colour."):  # real answers from the bundled model
        assert generate(lab_server, prompt)["model"]
    page.goto(lab_server.lab_url(f"lab/workspaces/t{uuid.uuid4().hex[:10]}"))  # no restored layout
    tab = page.locator(".lm-TabBar-tab[data-id='nexus-dashboard']")
    tab.wait_for(timeout=60_000)
    panel = page.locator("#nexus-dashboard")
    for _ in range(6):  # a click while the lab still restores its layout can be undone by it: retry
        if panel.is_visible():
            break
        tab.click(force=True)
        try:
            panel.wait_for(state="visible", timeout=5_000)
        except Exception:  # playwright's TimeoutError: not shown yet
            continue
    panel.wait_for(state="visible", timeout=10_000)
    panel.locator(".jp-nexus-chart").nth(3).wait_for(timeout=30_000)
    captions = panel.locator(".jp-nexus-chart figcaption").all_text_contents()
    assert [c.split(":")[0] for c in captions] == [
        "Latency p50 (ms)", "Tokens per second", "Fallbacks", "Queue depth",
    ]  # fmt: skip
    # The answers are plotted: the latency and speed lines have points, drawn as SVG paths.
    for series in ("latency_ms_p50", "tokens_per_s", "fallbacks", "queue_pending"):
        path = panel.locator(f"path[data-series='{series}']")
        assert int(path.get_attribute("data-points") or 0) >= 1, series
        assert (path.get_attribute("d") or "").startswith("M")
    assert "answer \u2013" not in captions[0] and "speed \u2013" not in captions[1], captions
    ARTIFACTS.mkdir(exist_ok=True)
    panel.screenshot(path=str(ARTIFACTS / "dashboard_panel.png"))
