"""Two people in one notebook, in two chromium contexts: the notebook chat and AI edits they share.

Alice and bob sign in as themselves (a cookie read by the test identity
provider) to one JupyterLab. With jupyter-collaboration on, alice asks NEXUS in
the notebook chat, bob watches the answer stream in, alice inserts the code and
bob sees the cell (tagged "NEXUS for Alice") without reloading; then both type
in different cells while NEXUS inserts a third on the server, and the saved file
has all three edits. With real-time collaboration off the same steps work for
alice alone.
"""

from __future__ import annotations

import json
import os
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import ARTIFACTS, LabServer, running_lab
from test_chat_panel import fresh_workspace, open_chat, write_notebook

TESTS = Path(__file__).resolve().parents[1]
COOKIE = "nexus-test-user"  # read by tests/support/identity.py
PROMPT = "Write a Python function add(a, b) that returns the sum of a and b."


@pytest.fixture(scope="module", params=["rtc", "single-user"])
def team_lab(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    args = (
        "--ServerApp.identity_provider_class=support.identity.TeamIdentityProvider",
        "--ServerApp.authorizer_class=support.identity.NotebookTeamAuthorizer",
        "--YDocExtension.document_save_delay=0.5",
    )
    if request.param == "single-user":
        args += ("--YDocExtension.disable_rtc=True",)
    env = {"PYTHONPATH": os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH")]))}
    with running_lab(tmp_path_factory.mktemp(f"team-{request.param}"), extra_env=env, extra_args=args) as lab:
        yield lab, request.param


def person(browser: Any, lab: LabServer, name: str) -> Any:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.add_cookies([{"name": COOKIE, "value": name, "url": lab.url}])
    page = context.new_page()
    return page


def open_shared(page: Any, lab: LabServer, notebook: str) -> Any:
    page.goto(fresh_workspace(lab, notebook))
    page.locator(".jp-Notebook .jp-Cell").first.wait_for(timeout=60_000)
    panel = open_chat(page)
    panel.locator(".jp-nexus-button.jp-mod-shared").click()
    panel.locator(".jp-nexus-shared-banner", has_text=notebook).wait_for(timeout=20_000)
    return panel


def insert_on_server(lab: LabServer, notebook: str, source: str, out: dict[str, Any]) -> None:
    """What a plugin command or background task does: a cell inserted by the server, as alice."""
    req = urllib.request.Request(
        f"{lab.url}nexus/api/v1/notebooks/cells",
        data=json.dumps({"path": notebook, "source": source, "index": 1}).encode(),
        method="POST",
        headers={"Authorization": "token user-alice", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=60) as reply:
        out.update(json.loads(reply.read()))


def type_into_cell(page: Any, source: str, text: str) -> None:
    """Type at the end of the cell that holds ``source``."""
    editor = page.locator(".jp-Notebook .jp-Cell", has_text=source).locator(".cm-content")
    editor.click()
    page.keyboard.press("Control+End")
    page.keyboard.type(text, delay=40)


def saved_sources(path: Path) -> list[str]:
    nb = json.loads(path.read_text())
    return ["".join(c["source"]) if isinstance(c["source"], list) else c["source"] for c in nb["cells"]]


def test_collab_two_users_share_notebook_chat_and_ai_edits(browser: Any, team_lab: Any) -> None:
    lab, mode = team_lab
    notebook = write_notebook(lab.root, f"team-{mode}.ipynb", "x = 1")
    file = lab.root / notebook
    nb = json.loads(file.read_text())
    nb["cells"].append({**nb["cells"][0], "id": "second", "source": "y = 2"})
    file.write_text(json.dumps(nb))
    alice = person(browser, lab, "alice")
    alice_chat = open_shared(alice, lab, notebook)
    bob = bob_chat = None
    if mode == "rtc":
        bob = person(browser, lab, "bob")
        bob_chat = open_shared(bob, lab, notebook)
        alice_chat.locator(".jp-nexus-shared-banner", has_text="here: Alice, Bob").wait_for(timeout=20_000)

    # alice asks in the notebook chat; bob sees who asked and the answer streaming in
    prompt = alice_chat.locator(".jp-nexus-input")
    prompt.fill(PROMPT)
    prompt.press("Enter")
    answer = alice_chat.locator(".jp-nexus-message-assistant").last
    answer.locator(".jp-nexus-code pre").first.wait_for(timeout=240_000)
    alice.wait_for_function(
        "document.querySelector('#nexus-chat .jp-nexus-message-assistant[data-model]') !== null",
        timeout=240_000,
    )
    if bob_chat is not None:
        question = bob_chat.locator(".jp-nexus-message-user").last
        question.locator(".jp-nexus-author", has_text="Alice").wait_for(timeout=30_000)
        assert PROMPT in question.text_content()
        bob_answer = bob_chat.locator(".jp-nexus-message-assistant").last
        bob_answer.locator(".jp-nexus-model").wait_for(timeout=60_000)  # the answer finished streaming
        assert bob_answer.locator("pre").first.text_content() == answer.locator("pre").first.text_content()

    # alice inserts the code: a cell tagged with who asked, live in bob's notebook too
    code = answer.locator("pre").first.text_content().rstrip("\n")
    answer.locator(".jp-nexus-code-button.jp-mod-insertBelow").first.click()
    tagged = ".jp-Notebook .jp-Cell.jp-nexus-generated[data-nexus-by='NEXUS for Alice']"
    alice.locator(tagged).wait_for(timeout=20_000)
    if bob is not None and bob_chat is not None:
        bob.locator(tagged).wait_for(timeout=20_000)  # no reload
        bob_chat.locator(".jp-nexus-note", has_text="Alice inserted code from NEXUS").wait_for(timeout=20_000)

        # both type in different cells while NEXUS inserts a third on the server
        inserted: dict[str, Any] = {}
        server_edit = threading.Thread(
            target=insert_on_server, args=(lab, notebook, "total = x + y  # from the server", inserted)
        )
        server_edit.start()
        type_into_cell(alice, "x = 1", "  # alice was here")
        type_into_cell(bob, "y = 2", "  # bob was here")
        server_edit.join(60)
        assert inserted["via"] == "shared-document"
        bob.locator(".jp-Notebook .jp-Cell", has_text="from the server").wait_for(timeout=20_000)
        ARTIFACTS.mkdir(exist_ok=True)
        bob.screenshot(path=str(ARTIFACTS / "collab_bob_sees_alice_and_nexus.png"))
    alice.keyboard.press("Control+s")

    # the saved file has every edit: alice's insert (attributed), and in RTC the three concurrent ones
    deadline = time.monotonic() + 30
    while True:
        sources = saved_sources(file)
        wanted = [code] + (
            ["x = 1  # alice was here", "y = 2  # bob was here", "from the server"] if mode == "rtc" else []
        )
        if all(any(w in s for s in sources) for w in wanted) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert all(any(w in s for s in sources) for w in wanted), (wanted, sources)
    cells = json.loads(file.read_text())["cells"]
    generated = [c for c in cells if c["metadata"].get("nexus", {}).get("requested_by") == "Alice"]
    assert any("".join(c["source"]) == code for c in generated)
    alice.screenshot(path=str(ARTIFACTS / f"collab_alice_{mode}.png"))
    for page in (alice, bob):
        if page is not None:
            page.context.close()
