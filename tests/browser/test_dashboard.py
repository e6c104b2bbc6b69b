"""The model dashboard panel in a real JupyterLab plots the server's numbers over time, on axes with
values, units and clock times, with a legend, and counts the fallbacks and repairs the chat shows.

The routing's first model (the team gateway) is the scripted stand-in for a paid API
(``tests/support/scripted_models.py``): it writes code that does not parse and repairs it when asked
(a repair), and fails every other question, which the bundled model then answers (a fallback)."""

from __future__ import annotations

import itertools
import json
import math
import re
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from conftest import ARTIFACTS, LabServer, running_lab
from support.scripted_models import ScriptedModelServer

INVALID = "```python\ndef total(xs:\n    return sum(xs)\n```"
VALID = "```python\ndef total(xs):\n    return sum(xs)\n```\nSums the list."
CLOCK = re.compile(r"^\d\d:\d\d(:\d\d)?$")


def gateway_script() -> Any:
    """Code that does not parse, then its repair; an HTTP 500 for anything else."""
    code = [INVALID, VALID]

    def answer(messages: list[dict[str, Any]]) -> dict[str, Any]:
        if code and any("total(xs)" in str(m["content"]) for m in messages):  # the question, its repair
            return {"text": code.pop(0)}
        return {"status": 500}

    return answer


@pytest.fixture(scope="module")
def dashboard_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    with ScriptedModelServer(gateway_script()) as gateway:
        env = {"NEXUS_GATEWAY_URL": gateway.url, "NEXUS_GATEWAY_TOKEN": "scripted-key"}
        with running_lab(tmp_path_factory.mktemp("dashboard"), extra_env=env) as lab:
            yield lab


def generate(lab: Any, task: str, prompt: str) -> dict[str, Any]:
    req = urllib.request.Request(
        f"{lab.url}nexus/api/v1/generate",
        data=json.dumps({"task": task, "prompt": prompt, "max_tokens": 24}).encode(),
        method="POST",
        headers={"Authorization": f"token {lab.token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=300) as reply:
        return dict(json.loads(reply.read()))


def test_the_dashboard_panel_plots_latency_speed_fallbacks_and_queue(dashboard_lab: Any, page: Any) -> None:
    lab = dashboard_lab
    repaired = generate(lab, "code_generation", "Write total(xs) that sums a list.")
    assert [s["outcome"] for s in repaired["fallback_path"]] == ["invalid", "repaired"], repaired
    for prompt in ("Name a prime number.", "Name a colour."):  # the gateway fails: the bundled model answers
        answer = generate(lab, "natural_language", prompt)
        assert answer["provider"] == "local" and answer["fallback_path"][0]["outcome"] == "error"
    page.goto(lab.lab_url(f"lab/workspaces/t{uuid.uuid4().hex[:10]}"))  # no restored layout
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
    charts = panel.locator(".jp-nexus-chart")
    charts.nth(3).wait_for(timeout=30_000)
    assert charts.locator("figcaption").all_text_contents() == [
        "Latency p50", "Tokens per second", "Fallbacks and repairs", "Queue depth",
    ]  # fmt: skip
    # The answers are plotted: each line has values, drawn as SVG paths; a value with no neighbour
    # (an answer between quiet intervals) is a dot, so every value is on screen.
    for series in ("latency_ms_p50", "tokens_per_s", "fallbacks", "repairs", "queue_pending"):
        path = panel.locator(f"path[data-series='{series}']")
        moves = (path.get_attribute("d") or "").split()
        assert len(moves) == int(path.get_attribute("data-points") or 0) >= 1, series
        alone = [
            i
            for i, move in enumerate(moves)
            if move[0] == "M" and (i + 1 == len(moves) or moves[i + 1][0] == "M")
        ]
        assert panel.locator(f"circle[data-series='{series}']").count() == len(alone), (series, moves)

    # Axes: round values from 0 with the unit on the y axis, clock times on the x axis, all visible.
    fallbacks_chart = charts.nth(2)
    fallbacks_chart.scroll_into_view_if_needed()
    for i, unit in enumerate(("ms", "tok/s", "per 10 s", "tasks")):
        chart = charts.nth(i)
        assert chart.locator(".jp-nexus-chart-unit").text_content() == unit
        values = chart.locator(".jp-nexus-chart-yaxis text:not(.jp-nexus-chart-unit)").all_text_contents()
        assert values[0] == "0" and len(values) >= 2, values
        times = chart.locator(".jp-nexus-chart-xaxis text").all_text_contents()
        assert times and all(CLOCK.match(t) for t in times), times
    for axis in (".jp-nexus-chart-yaxis text", ".jp-nexus-chart-xaxis text"):
        label = fallbacks_chart.locator(axis).last
        box = label.bounding_box()
        assert label.is_visible() and box is not None and box["width"] > 0, axis

    # The legend names each line in its colour, with what the chat showed: 2 fallbacks, 1 repair.
    legend = {
        item.get_attribute("data-series"): " ".join(item.inner_text().split())
        for item in fallbacks_chart.locator(".jp-nexus-chart-legend li").all()
    }
    assert re.fullmatch(r"fallbacks 2 in \d+ min \(another model answered\)", legend["fallbacks"]), legend
    assert re.fullmatch(r"repairs 1 in \d+ min \(the same model asked again\)", legend["repairs"]), legend
    swatches = fallbacks_chart.locator(".jp-nexus-chart-legend li line")
    lines = fallbacks_chart.locator("path.jp-nexus-chart-line")
    colour = "el => getComputedStyle(el).stroke"
    for i in range(2):  # the swatch is drawn like its line
        assert swatches.nth(i).evaluate(colour) == lines.nth(i).evaluate(colour)
    assert swatches.nth(0).evaluate(colour) != swatches.nth(1).evaluate(colour)
    status = panel.locator(".jp-nexus-dashboard-status").text_content() or ""
    assert "2 fallbacks, 1 repair," in status, status

    ARTIFACTS.mkdir(exist_ok=True)
    panel.locator(".jp-nexus-dashboard-charts").screenshot(path=str(ARTIFACTS / "dashboard_panel.png"))

    # A full half hour (the server's document, its series made up): the x axis labels round clock
    # times, every 5 min, that do not overlap.
    summary = {**get(lab, "nexus/api/v1/metrics/summary"), "series": half_hour()}
    summary_url = re.compile(r".*/nexus/api/v1/metrics/summary(\?.*)?$")  # JupyterLab adds ?<time>
    page.route(summary_url, lambda route: route.fulfill(json=summary))
    panel.locator("path[data-series='queue_pending'][data-points='180']").wait_for(timeout=20_000)
    times = charts.nth(0).locator(".jp-nexus-chart-xaxis text")
    assert [t for t in times.all_text_contents() if not re.fullmatch(r"\d\d:[0-5][05]", t)] == []
    assert 3 <= times.count() <= 6, times.all_text_contents()
    boxes = [times.nth(i).bounding_box() for i in range(times.count())]
    assert all(a and b and a["x"] + a["width"] < b["x"] for a, b in itertools.pairwise(boxes)), boxes
    assert panel.locator("circle[data-series='latency_ms_p50']").count() >= 1  # the lone answers
    panel.locator(".jp-nexus-dashboard-charts").screenshot(path=str(ARTIFACTS / "dashboard_half_hour.png"))


def get(lab: Any, path: str) -> dict[str, Any]:
    req = urllib.request.Request(f"{lab.url}{path}", headers={"Authorization": f"token {lab.token}"})
    with urllib.request.urlopen(req, timeout=30) as reply:
        return dict(json.loads(reply.read()))


def half_hour() -> list[dict[str, Any]]:
    """180 points from 14:00:10 to 14:30:00 UTC: answers in bursts with quiet gaps and lone ones,
    a few fallbacks and repairs, a queue that fills and drains."""
    start = datetime(2026, 3, 2, 14, 0, 10, tzinfo=timezone.utc)
    out = []
    for i in range(180):
        answered = i % 9 < 4 or i % 23 == 0  # bursts, and a lone answer now and then
        out.append(
            {
                "at": (start + timedelta(seconds=10 * i)).isoformat(),
                "requests": 3 if answered else 0,
                "generations": 2 if answered else 0,
                "latency_ms_p50": 900 + 400 * math.sin(i / 12) if answered else None,
                "ttft_ms_p50": 250 + 80 * math.cos(i / 9) if answered else None,
                "tokens_per_s": 28 + 6 * math.sin(i / 7) if answered else None,
                "fallbacks": 1 if i % 37 == 5 else 0,
                "repairs": 1 if i % 53 == 11 else 0,
                "queue_pending": max(0, round(3 * math.sin(i / 15))),
                "queue_running": 1 if answered else 0,
            }
        )
    return out
