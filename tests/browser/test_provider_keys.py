"""A user stores their own provider API key from the command palette; the page never shows it again."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

KEY = "sk-browser-5555-secret"


def secrets(lab: Any, method: str = "GET", path: str = "secrets") -> Any:
    req = urllib.request.Request(
        f"{lab.url}nexus/api/v1/{path}", method=method, headers={"Authorization": f"token {lab.token}"}
    )
    with urllib.request.urlopen(req, timeout=30) as reply:
        body = reply.read()
    return json.loads(body) if body else None


def run_from_palette(page: Any, label: str) -> None:
    """Open the command palette (the shortcut may arrive before JupyterLab listens: retry) and run."""
    palette = page.locator(".lm-CommandPalette-input")
    for _ in range(10):
        if palette.is_visible():  # the shortcut toggles: never press it on an open palette
            break
        page.keyboard.press("Control+Shift+C")
        try:
            palette.wait_for(state="visible", timeout=5_000)
            break
        except Exception:  # playwright's TimeoutError: not open yet
            continue
    palette.fill(label)
    page.keyboard.press("Enter")


def accept(page: Any) -> None:
    page.locator(".jp-Dialog .jp-mod-accept").click()


def test_set_a_provider_key_from_the_palette(lab_server: Any, page: Any) -> None:
    page.goto(lab_server.lab_url())
    page.locator(".jp-nexus-health").wait_for(timeout=60_000)
    run_from_palette(page, "Set provider API key")

    choose = page.locator(".jp-Dialog select")  # which provider: each says whose key it uses now
    choose.wait_for(timeout=10_000)
    labels = choose.locator("option").all_text_contents()
    openai = next(label for label in labels if label.startswith("openai"))
    assert "no key" in openai or "environment key" in openai, labels
    choose.select_option(label=openai)
    accept(page)
    scope = page.locator(".jp-Dialog select")  # whose key: only mine (the default)
    scope.wait_for(timeout=10_000)
    assert scope.input_value() == "Only for me"
    accept(page)
    field = page.locator(".jp-Dialog input[type=password]")
    field.fill(KEY)
    accept(page)

    page.locator(".jp-Notification-Status").click()  # the notification centre lists what happened
    page.get_by_text("The openai key is stored").wait_for(timeout=15_000)
    page.locator(".jp-Notification-Status").click()
    state = next(p for p in secrets(lab_server)["providers"] if p["provider"] == "openai")
    assert state["user_key_set"] and state["in_use"] == "user"
    assert KEY not in page.content()

    # the picker now says the user's own key is in use, with the day it was set
    page.goto(lab_server.lab_url())
    page.locator(".jp-nexus-health").wait_for(timeout=60_000)
    run_from_palette(page, "Set provider API key")
    choose.wait_for(timeout=10_000)
    assert any(
        t.startswith("openai: uses your own key, set ") for t in choose.locator("option").all_text_contents()
    )
    page.locator(".jp-Dialog .jp-mod-reject").click()
    secrets(lab_server, "DELETE", "secrets/user/openai")
