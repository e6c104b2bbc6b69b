"""The notebook agent in the chat panel: a real JupyterLab, a real kernel, Debian's chromium.

The model is the scripted tool-calling stand-in (``tests/support/scripted_models.py``): it inserts
a cell, runs the cell it inserted (its id comes from the tool result), then answers. Everything else
is real: the approvals go over the NEXUS websocket, the edits reach the open notebook through the
shared document, undo puts the notebook and the kernel back.
"""

from __future__ import annotations

import contextlib
import getpass
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import ARTIFACTS, LabServer, running_lab
from support.scripted_models import ScriptedModelServer, write_scripted_routing
from test_chat_panel import open_chat, open_notebook, write_notebook

GOAL_42 = "Put x = 41 + 1 in a new cell, run it and tell me x."
GOAL_HELLO = "Add a cell that prints hello."
INSERTED = re.compile(r"Inserted code cell (\S+) at index \d+\.")


def agent_script(messages: list[dict[str, Any]]) -> dict[str, Any]:
    """Insert a cell, run the cell it inserted, then say what came out (or accept a rejection)."""
    goal = next(m["content"] for m in messages if m["role"] == "user")
    last = messages[-1]
    if last["role"] == "user":
        source = "x = 41 + 1\nprint(x)" if "41 + 1" in goal else "print('hello')"
        return {"tool_calls": [{"name": "insert_cell", "arguments": {"source": source}}]}
    inserted = INSERTED.search(last["content"])
    if inserted:
        return {"tool_calls": [{"name": "run_cell", "arguments": {"cell_id": inserted.group(1)}}]}
    if last["content"].startswith("Ran cell"):
        return {"text": "Done: x is 42."}
    if "rejected" in last["content"]:
        return {"text": "Understood: I left the notebook as it was."}
    return {"text": f"Unexpected tool result: {last['content'][:200]}"}


@pytest.fixture(scope="module")
def agent_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LabServer, Path]]:
    """A lab whose ``agent`` task is the scripted model; yields it and its server log."""
    base = tmp_path_factory.mktemp("agent-lab")
    with ScriptedModelServer(agent_script) as model:
        routing = write_scripted_routing(base / "agent-routing.yaml", model)
        args = (f"--NexusApp.routing_file={routing}",)
        with running_lab(base / "lab", wait_for_model=False, extra_args=args) as lab:
            yield lab, base / "lab" / "lab.log"
        if model.errors:
            print("scripted model errors:", model.errors)


@contextlib.contextmanager
def server_log_on_failure(log: Path, frames: list[str]) -> Iterator[None]:
    """A failing test prints the server's log and the websocket's error frames (backend problems)."""
    try:
        yield
    except BaseException:
        print("---- websocket error frames ----")
        print("\n".join(frames) or "(none)")
        print("---- server log (tail) ----")
        print(log.read_text()[-8000:])
        raise


def record_ws_errors(page: Any) -> list[str]:
    frames: list[str] = []

    def on_frame(payload: Any) -> None:
        if '"type":"error"' in str(payload):
            frames.append(str(payload))

    def on_socket(ws: Any) -> None:
        ws.on("framereceived", on_frame)

    page.on("websocket", on_socket)
    return frames


def notebook_sources(page: Any) -> list[str]:
    return page.evaluate(
        "[...document.querySelectorAll('.jp-Notebook .jp-Cell .jp-InputArea-editor .cm-content')]"
        ".map(e => [...e.querySelectorAll('.cm-line')].map(l => l.textContent).join('\\n'))"
    )


def wait_badge(card: Any, label: str, timeout: float = 60_000) -> None:
    card.locator(f".jp-nexus-agent-badge:text-is('{label}')").wait_for(timeout=timeout)


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.wait_for_timeout(300)  # let the last frame paint
    page.screenshot(path=str(ARTIFACTS / name))


def test_agent_edits_and_runs_after_approval_then_undo_takes_it_back(
    agent_lab: tuple[LabServer, Path], page: Any
) -> None:
    lab, log = agent_lab
    frames = record_ws_errors(page)
    with server_log_on_failure(log, frames):
        name = write_notebook(lab.root, "agent.ipynb", "# agent test")
        open_notebook(page, lab, name)
        panel = open_chat(page)

        # Agent mode: the approval modes this server allows (no Auto unless the administrator says so)
        panel.locator(".jp-nexus-segment[data-mode='agent']").click()
        assert panel.locator(".jp-nexus-segment[data-mode='agent']").get_attribute("aria-pressed") == "true"
        select = panel.locator("select.jp-nexus-agent-mode")
        select.wait_for(state="visible", timeout=5_000)
        assert select.locator("option").all_text_contents() == [
            "Ask every time",
            "Auto-accept edits, ask before running",
        ]
        assert select.input_value() == "ask"
        prompt = panel.locator(".jp-nexus-input")
        assert "agent.ipynb" in (prompt.get_attribute("placeholder") or "")
        prompt.fill(GOAL_42)
        prompt.press("Enter")

        # 1. the edit waits for approval: its diff
        card = panel.locator(".jp-nexus-agent-turn").last
        approval = card.locator(".jp-nexus-agent-approval")
        approval.wait_for(timeout=60_000)
        wait_badge(card, "Waiting for you")
        assert card.locator(".jp-nexus-agent-goal").text_content() == GOAL_42
        assert approval.locator(".jp-nexus-agent-approval-title").text_content() == "Apply this change?"
        added = approval.locator(".jp-nexus-diff-line.jp-mod-add .jp-nexus-diff-text").all_text_contents()
        assert added == ["x = 41 + 1", "print(x)"]
        assert approval.get_attribute("tabindex") == "0"
        for label in ("Approve", "Reject", "Approve rest of turn"):
            assert approval.get_by_role("button", name=re.compile(f"^{label}(:|$)")).count() == 1
        assert card.locator(".jp-nexus-agent-stop").is_visible()
        assert len(notebook_sources(page)) == 1, "nothing changes before the approval"
        shot(page, "agent-approval.png")

        approve = approval.locator(".jp-nexus-button.jp-mod-approve")
        approve.click()
        # disabled at once (or already gone with the server's answer): one click, one frame
        assert page.evaluate(
            "() => { const b = document.querySelector("
            "'#nexus-chat .jp-nexus-agent-approval .jp-mod-approve'); return !b || b.disabled; }"
        )

        # 2. running the new cell waits for approval: its code
        code = card.locator(".jp-nexus-agent-approval .jp-nexus-agent-code")
        code.wait_for(timeout=60_000)
        assert code.text_content() == "x = 41 + 1\nprint(x)"
        assert card.locator(".jp-nexus-agent-approval-title").text_content() == "Run this code?"
        assert page.locator(".jp-Notebook .jp-Cell").count() == 2, "the approved edit is in the notebook"
        card.locator(".jp-nexus-agent-approval .jp-mod-approve").click()

        # 3. done: the answer, the cell and its output in the notebook
        wait_badge(card, "Done")
        card.locator(".jp-nexus-agent-text", has_text="Done: x is 42.").wait_for(timeout=30_000)
        assert card.locator(".jp-nexus-agent-approval").count() == 0
        statuses = card.locator(".jp-nexus-agent-step-status").all_text_contents()
        assert statuses == ["Done", "Done"], statuses
        assert not card.locator(".jp-nexus-agent-stop").is_visible()
        assert notebook_sources(page) == ["# agent test", "x = 41 + 1\nprint(x)"]
        output = page.locator(".jp-Notebook .jp-Cell").nth(1).locator(".jp-OutputArea-output")
        output.wait_for(timeout=30_000)
        assert output.text_content().strip() == "42"
        # the cell is tagged with the server's owner, not Jupyter's "Anonymous ..." of a token login
        tagged = page.locator(".jp-Notebook .jp-Cell").nth(1)
        assert tagged.get_attribute("data-nexus-by") == f"NEXUS agent for {getpass.getuser()}"
        shot(page, "agent-done.png")

        # 4. Undo this turn: the cell goes; the card says what was restored and what was not
        undo = card.locator(".jp-nexus-agent-undo")
        assert undo.is_visible() and undo.text_content() == "Undo this turn"
        undo.click()
        wait_badge(card, "Undone")
        message = card.locator(".jp-nexus-agent-undo-message")
        message.wait_for(timeout=30_000)
        assert "removed 1 the turn had added" in message.text_content()
        page.wait_for_function(
            "document.querySelectorAll('.jp-Notebook .jp-Cell').length === 1", timeout=30_000
        )
        assert notebook_sources(page) == ["# agent test"]
        assert not undo.is_visible()
        assert not frames, frames
        shot(page, "agent-undone.png")


def test_agent_reject_with_a_reason_leaves_the_notebook_unchanged(
    agent_lab: tuple[LabServer, Path], page: Any
) -> None:
    """Also in the dark theme: the card paints with the theme's colours."""
    lab, log = agent_lab
    frames = record_ws_errors(page)
    with server_log_on_failure(log, frames):
        name = write_notebook(lab.root, "agent-reject.ipynb", "# keep me")
        open_notebook(page, lab, name)
        use_dark_theme(page)
        panel = open_chat(page)
        prompt = panel.locator(".jp-nexus-input")
        # /agent works from the Chat mode too
        assert panel.locator(".jp-nexus-segment[data-mode='chat']").get_attribute("aria-pressed") == "true"
        prompt.fill("/ag")  # the server lists /agent among the slash commands
        panel.locator(".jp-nexus-slash-item[data-name='agent']").wait_for(timeout=10_000)
        prompt.fill(f"/agent {GOAL_HELLO}")
        prompt.press("Enter")
        card = panel.locator(".jp-nexus-agent-turn").last
        approval = card.locator(".jp-nexus-agent-approval")
        approval.wait_for(timeout=60_000)
        approval.locator(".jp-nexus-agent-reason-input").fill("Not in this notebook, please.")
        colours = page.evaluate(
            """() => {
            const card = getComputedStyle(document.querySelector('#nexus-chat .jp-nexus-agent-turn'));
            const goal = getComputedStyle(document.querySelector('#nexus-chat .jp-nexus-agent-goal'));
            return {card: card.backgroundColor, goal: goal.color};
        }"""
        )
        r, g, b = (int(x) for x in colours["card"].strip("rgba() ").split(",")[:3])
        assert r + g + b < 3 * 90, colours
        r, g, b = (int(x) for x in colours["goal"].strip("rgba() ").split(",")[:3])
        assert r + g + b > 3 * 150, colours
        shot(page, "agent-dark-approval.png")
        approval.locator(".jp-nexus-button.jp-mod-reject").click()

        wait_badge(card, "Done")
        step = card.locator(".jp-nexus-agent-step").first
        assert step.locator(".jp-nexus-agent-step-status").text_content() == "Rejected"
        assert (
            step.locator(".jp-nexus-agent-step-note").text_content()
            == "Your reason: Not in this notebook, please."
        )
        card.locator(".jp-nexus-agent-text", has_text="Understood").wait_for(timeout=30_000)
        assert notebook_sources(page) == ["# keep me"]
        assert page.locator(".jp-Notebook .jp-Cell").count() == 1
        # nothing changed: nothing to undo
        assert not card.locator(".jp-nexus-agent-undo").is_visible()
        assert not frames, frames
        step.locator(".jp-nexus-agent-step-details > summary").click()  # the change that was refused
        shot(page, "agent-dark-rejected.png")


def use_dark_theme(page: Any) -> None:
    page.locator(".jp-Notebook").first.click()  # focus the lab so its shortcuts apply
    page.keyboard.press("Control+Shift+C")
    palette = page.locator(".lm-CommandPalette-input")
    palette.wait_for(state="visible", timeout=10_000)
    palette.fill("Use Theme: JupyterLab Dark")
    page.keyboard.press("Enter")
    page.locator("body[data-jp-theme-light='false']").wait_for(state="attached", timeout=30_000)
    page.wait_for_timeout(500)  # the theme's CSS transition


def test_agent_without_an_open_notebook_says_so_instead_of_sending(
    agent_lab: tuple[LabServer, Path], page: Any
) -> None:
    lab, log = agent_lab
    frames = record_ws_errors(page)
    with server_log_on_failure(log, frames):
        page.goto(lab.lab_url(f"lab/workspaces/agent-empty-{id(page):x}"))
        page.locator(".lm-TabBar-tab[data-id='nexus-chat']").wait_for(timeout=60_000)
        panel = open_chat(page)
        panel.locator(".jp-nexus-segment[data-mode='agent']").click()
        prompt = panel.locator(".jp-nexus-input")
        prompt.fill("Make a plot")
        prompt.press("Enter")
        notice = panel.locator(".jp-nexus-agent-notice")
        notice.wait_for(state="visible", timeout=5_000)
        assert "Open a notebook first" in notice.text_content()
        assert prompt.input_value() == "Make a plot", "the goal stays to send once a notebook is open"
        assert panel.locator(".jp-nexus-agent-turn").count() == 0
