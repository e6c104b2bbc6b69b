"""Notebook chats and server-side notebook edits, on a real server without jupyter-collaboration.

Alice and bob share a notebook: bob follows the notebook's chat and sees alice's
question and NEXUS's answer stream in; carol, who cannot open the notebook,
gets 403 on its chat and an error frame on the websocket. A cell NEXUS inserts
on the server lands in the file, attributed to who asked.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import nbformat
import pytest
from support.identity import NotebookTeamAuthorizer, TeamIdentityProvider
from support.routing import bundled_routing

WS = "nexus/api/v1/ws"
ALICE = {"Authorization": "token user-alice"}
BOB = {"Authorization": "token user-bob"}
CAROL = {"Authorization": "token user-carol"}

ROUTING = bundled_routing(max_tokens=12)


@pytest.fixture
def jp_server_config(nexus_config: Any) -> dict[str, Any]:
    return nexus_config(
        routing=ROUTING,
        server={"identity_provider_class": TeamIdentityProvider, "authorizer_class": NotebookTeamAuthorizer},
        other={"IntentClassifier": {"llm_tie_breaker": False}, "ConsciousnessCore": {"max_tokens": 12}},
    )


@pytest.fixture
def notebook(jp_root_dir: Path) -> str:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x = 1"), nbformat.v4.new_code_cell("y = 2")]
    nbformat.write(nb, jp_root_dir / "team.ipynb")
    return "team.ipynb"


async def read(ws: Any, timeout: float = 300) -> dict[str, Any]:
    message = await asyncio.wait_for(ws.read_message(), timeout)
    assert message is not None, "the socket closed"
    return json.loads(message)


async def read_until(ws: Any, kind: str, request_id: str | None = None) -> list[dict[str, Any]]:
    frames = []
    while True:
        frame = await read(ws)
        frames.append(frame)
        if frame["type"] == kind and (request_id is None or frame.get("id") == request_id):
            return frames
        assert not (frame["type"] == "error" and frame.get("id") == request_id), frame


async def join(ws: Any, path: str) -> dict[str, Any]:
    await ws.write_message(json.dumps({"type": "notebook.join", "path": path}))
    return (await read_until(ws, "notebook.joined"))[-1]


async def test_collab_notebook_chat_is_shared_live_and_follows_notebook_access(
    jp_ws_fetch: Any, jp_fetch: Any, notebook: str, nexus_data_dir: Path
) -> None:
    alice = await jp_ws_fetch(WS, headers=ALICE)
    bob = await jp_ws_fetch(WS, headers=BOB)
    joined = await join(alice, notebook)
    assert joined["members"] == ["Alice"]
    joined_bob = await join(bob, notebook)
    assert joined_bob["conversation_id"] == joined["conversation_id"]
    assert joined_bob["members"] == ["Alice", "Bob"]
    assert (await read_until(alice, "notebook.members"))[-1]["members"] == ["Alice", "Bob"]

    marker = "Zanzibar-7 question"
    await alice.write_message(
        json.dumps({"type": "chat", "id": "a1", "notebook": notebook, "text": f"/ask What is {marker}?"})
    )
    alice_frames = await read_until(alice, "chat.done", "a1")
    bob_frames = await read_until(bob, "chat.done", "a1")
    # bob saw who asked, the question, the answer streaming in, and its end
    started = next(f for f in bob_frames if f["type"] == "chat.started")
    assert started["author"] == "Alice" and started["conversation_id"] == joined["conversation_id"]
    question = next(
        f for f in bob_frames if f["type"] == "conversation.message" and f["message"]["role"] == "user"
    )
    assert marker in question["message"]["content"] and question["message"]["author"] == "Alice"
    streamed = "".join(f["text"] for f in bob_frames if f["type"] == "chat.delta")
    assert streamed.strip()
    assert streamed == "".join(f["text"] for f in alice_frames if f["type"] == "chat.delta")

    # the chat is stored: bob reads it over REST, with who asked
    chat = json.loads(
        (await jp_fetch("nexus/api/v1/notebooks/chat", params={"path": notebook}, headers=BOB)).body
    )
    assert chat["shared"] is True and chat["id"] == joined["conversation_id"]
    assert [(m["role"], m["author"]) for m in chat["messages"]] == [("user", "Alice"), ("assistant", None)]
    assert chat["messages"][1]["content"].strip()
    # ...and encrypted at rest like every conversation
    raw = b"".join(p.read_bytes() for p in nexus_data_dir.rglob("*.db*") if p.is_file())
    assert marker.encode() not in raw

    # it is the notebook's, not alice's: not among her private conversations, not readable by id
    mine = json.loads((await jp_fetch("nexus/api/v1/conversations", headers=ALICE)).body)["conversations"]
    assert joined["conversation_id"] not in [c["id"] for c in mine]
    r = await jp_fetch(
        "nexus/api/v1/conversations", joined["conversation_id"], headers=BOB, raise_error=False
    )
    assert r.code == 404

    # activity: bob inserted the answer's code; alice is told
    await bob.write_message(
        json.dumps({"type": "notebook.activity", "path": notebook, "action": "inserted", "cell_id": "c9"})
    )
    activity = (await read_until(alice, "notebook.activity"))[-1]
    assert activity["author"] == "Bob" and activity["action"] == "inserted"

    # carol cannot open the notebook: no chat over REST, no join, no posting, no cell inserts
    for call in (
        jp_fetch("nexus/api/v1/notebooks/chat", params={"path": notebook}, headers=CAROL, raise_error=False),
        jp_fetch(
            "nexus/api/v1/notebooks/cells",
            method="POST",
            body=json.dumps({"path": notebook, "source": "print('carol')"}),
            headers=CAROL,
            raise_error=False,
        ),
    ):
        r = await call
        assert r.code == 403 and "cannot open this notebook" in json.loads(r.body)["message"]
    carol = await jp_ws_fetch(WS, headers=CAROL)
    await carol.write_message(json.dumps({"type": "notebook.join", "path": notebook}))
    refused = await read(carol)
    assert refused["type"] == "error" and refused["error"] == "forbidden"
    await carol.write_message(
        json.dumps({"type": "chat", "id": "c1", "notebook": notebook, "text": "/ask hi"})
    )
    refused = await read(carol)
    assert refused == {**refused, "type": "error", "error": "forbidden", "id": "c1"}
    chat = json.loads(
        (await jp_fetch("nexus/api/v1/notebooks/chat", params={"path": notebook}, headers=BOB)).body
    )
    assert len(chat["messages"]) == 2  # carol's attempt left nothing behind

    # bob leaves: alice sees him go
    await bob.write_message(json.dumps({"type": "notebook.leave", "path": notebook}))
    assert (await read_until(alice, "notebook.members"))[-1]["members"] == ["Alice"]
    for ws in (alice, bob, carol):
        ws.close()


async def test_collab_bad_notebook_paths_get_clear_errors(
    jp_fetch: Any, jp_ws_fetch: Any, notebook: str
) -> None:
    cases = {"../outside.ipynb": 400, "notes.txt": 400, "missing.ipynb": 404, "": 400}
    for path, status in cases.items():
        r = await jp_fetch(
            "nexus/api/v1/notebooks/chat", params={"path": path}, headers=ALICE, raise_error=False
        )
        reply = json.loads(r.body)
        assert r.code == status and reply["message"] and "Traceback" not in r.body.decode(), (path, reply)
    ws = await jp_ws_fetch(WS, headers=ALICE)
    await ws.write_message(json.dumps({"type": "notebook.join", "path": "missing.ipynb"}))
    frame = await read(ws)
    assert frame["type"] == "error" and frame["error"] == "not_found"
    await ws.write_message(json.dumps({"type": "ping", "id": "p"}))
    assert (await read(ws))["type"] == "pong"  # the socket stays open
    ws.close()


async def test_collab_server_inserted_cell_lands_in_the_file_attributed(
    jp_fetch: Any, jp_root_dir: Path, notebook: str
) -> None:
    """Without jupyter-collaboration (this server does not load it) the cell goes into the file."""
    r = await jp_fetch(
        "nexus/api/v1/notebooks/cells",
        method="POST",
        body=json.dumps({"path": notebook, "source": "z = x + y", "index": 1, "model": "SmolLM2"}),
        headers=BOB,
    )
    assert r.code == 201
    reply = json.loads(r.body)
    assert reply["via"] == "file" and reply["index"] == 1
    nb = nbformat.read(jp_root_dir / notebook, as_version=4)
    assert [c.source for c in nb.cells] == ["x = 1", "z = x + y", "y = 2"]
    inserted = nb.cells[1]
    assert inserted.id == reply["cell_id"]
    assert (
        inserted.metadata["nexus"]["requested_by"] == "Bob"
        and inserted.metadata["nexus"]["model"] == "SmolLM2"
    )
    r = await jp_fetch(
        "nexus/api/v1/notebooks/cells",
        method="POST",
        body=json.dumps({"path": notebook, "source": "s", "cell_type": "python"}),
        headers=BOB,
        raise_error=False,
    )
    assert r.code == 400 and "cell_type" in json.loads(r.body)["message"]
    assert len(nbformat.read(jp_root_dir / notebook, as_version=4).cells) == 3  # nothing half-written
