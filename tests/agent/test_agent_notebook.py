"""The agent's notebook, on a real server: in the file when nobody has the notebook open, in the live
shared document when a collaborator does (a pycrdt client connected to the jupyter-collaboration room).

The agent never overwrites text a person wrote after it read a cell, and an undo takes back the
agent's changes (exactly, down to the JSON of every cell) while a person's edits stay.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import nbformat
import pytest
from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect

from nexus_server_ext.agent.notebook import AgentNotebook, CellChanged, CellNotFound, NotebookSnapshot

AUTHOR = "Alice"
PATH = "team.ipynb"


def write_notebook(root: Path) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    cells = [
        nbformat.v4.new_code_cell(
            "x = 1\nx",
            execution_count=1,
            outputs=[nbformat.v4.new_output("execute_result", {"text/plain": "1"}, execution_count=1)],
        ),
        nbformat.v4.new_markdown_cell("# Notes\nabout x"),
        nbformat.v4.new_code_cell(
            "print(x)",
            execution_count=2,
            outputs=[nbformat.v4.new_output("stream", name="stdout", text="1\n")],
        ),
        nbformat.v4.new_code_cell("y = 2", metadata={"tags": ["keep"]}),
        nbformat.v4.new_code_cell("z = 3"),
    ]
    for n, cell in enumerate(cells):
        cell.id = f"cell-{n}"
    nb.cells = cells
    nbformat.write(nb, root / PATH)


def as_json(cells: list[dict[str, Any]]) -> str:
    return json.dumps(cells, sort_keys=True)


def on_disk(root: Path) -> Any:
    return nbformat.read(root / PATH, as_version=4)


def saved_sources(root: Path) -> list[str] | None:
    """The sources in the file, or None while the room is halfway through writing it."""
    try:
        return [c.source for c in on_disk(root).cells]
    except nbformat.reader.NotJSONError:
        return None


def person_edits_file(root: Path, cell_id: str, source: str) -> None:
    nb = on_disk(root)
    next(c for c in nb.cells if c.id == cell_id).source = source
    nbformat.write(nb, root / PATH)


def agent(serverapp: Any) -> AgentNotebook:
    return AgentNotebook(serverapp, PATH, requested_by=AUTHOR, run_id="run-1", model="SmolLM2")


async def agent_turn(notebook: AgentNotebook) -> str:
    """A turn that does one of everything: returns the id of the cell it inserted."""
    await notebook.cells()
    inserted = await notebook.insert("w = x + y", index=1)
    await notebook.edit("cell-0", "x = 10\nx")
    await notebook.delete("cell-1")
    await notebook.move("cell-3", 0)
    await notebook.set_outputs(
        "cell-2", [{"output_type": "stream", "name": "stdout", "text": "10\n"}], execution_count=7
    )
    await notebook.edit(inserted.id, "w = x * y")
    return inserted.id


# -- the file: nobody has the notebook open ---------------------------------------------------------
@pytest.fixture
def notebook_file(jp_root_dir: Path) -> Path:
    write_notebook(jp_root_dir)
    return jp_root_dir


async def test_agent_edits_land_in_the_file_attributed(jp_serverapp: Any, notebook_file: Path) -> None:
    notebook = agent(jp_serverapp)
    cells = await notebook.cells()
    assert notebook.via == "file"
    assert [c.id for c in cells] == [f"cell-{n}" for n in range(5)]
    assert cells[0].outputs[0]["data"] == {"text/plain": "1"} and cells[0].execution_count == 1

    inserted = await notebook.insert("## Plan", cell_type="markdown", index=1)
    assert inserted.index == 1 and inserted.cell_type == "markdown"
    old, edited = await notebook.edit("cell-0", "x = 41 + 1")
    assert old == "x = 1\nx" and edited.source == "x = 41 + 1"
    deleted = await notebook.delete("cell-4")
    assert deleted.source == "z = 3" and deleted.index == 5
    moved = await notebook.move("cell-3", 0)
    assert moved.index == 0
    result = {
        "output_type": "execute_result",
        "data": {"text/plain": "42"},
        "metadata": {},
        "execution_count": 3,
    }
    await notebook.set_outputs("cell-0", [result], 3)
    assert notebook.via == "file"

    nb = on_disk(notebook_file)
    assert [c.source for c in nb.cells] == ["y = 2", "x = 41 + 1", "## Plan", "# Notes\nabout x", "print(x)"]
    for cell in (nb.cells[1], nb.cells[2]):
        nexus = cell.metadata["nexus"]
        assert (
            nexus["requested_by"] == AUTHOR and nexus["model"] == "SmolLM2" and nexus["agent_run"] == "run-1"
        )
    assert nb.cells[2].id == inserted.id
    assert nb.cells[1].outputs[0]["data"] == {"text/plain": "42"} and nb.cells[1].execution_count == 3
    assert "nexus" not in nb.cells[0].metadata  # moved, not written
    assert [c.source for c in await agent(jp_serverapp).cells()] == [c.source for c in nb.cells]


async def test_agent_does_not_overwrite_a_persons_newer_text(jp_serverapp: Any, notebook_file: Path) -> None:
    notebook = agent(jp_serverapp)
    await notebook.cells()
    person_edits_file(notebook_file, "cell-0", "x = 1  # alice is on it\nx")
    with pytest.raises(CellChanged, match="changed cell 'cell-0' after you read it"):
        await notebook.edit("cell-0", "x = 2\nx")
    with pytest.raises(CellChanged):
        await notebook.delete("cell-0")
    assert on_disk(notebook_file).cells[0].source == "x = 1  # alice is on it\nx"

    # read again: now the agent builds on her version
    assert (await notebook.cell("cell-0")).source == "x = 1  # alice is on it\nx"
    old, _ = await notebook.edit("cell-0", "x = 2  # alice is on it\nx")
    assert old == "x = 1  # alice is on it\nx"
    assert on_disk(notebook_file).cells[0].source == "x = 2  # alice is on it\nx"

    # a cell it never read (a person added it during the turn) is not changed blind
    nb = on_disk(notebook_file)
    nb.cells.append(nbformat.v4.new_code_cell("secret = 1"))
    nbformat.write(nb, notebook_file / PATH)
    with pytest.raises(CellChanged, match="not read"):
        await notebook.edit(nb.cells[-1].id, "")

    for call in (
        notebook.cell("nope"),
        notebook.edit("nope", "x"),
        notebook.delete("nope"),
        notebook.move("nope", 0),
        notebook.set_outputs("nope", [], None),
    ):
        with pytest.raises(CellNotFound) as caught:
            await call
        assert str(caught.value) == "There is no cell with id 'nope' in the notebook."
    with pytest.raises(ValueError, match="markdown"):
        await notebook.set_outputs("cell-1", [], None)


async def test_agent_gives_cells_of_an_old_notebook_ids(jp_serverapp: Any, jp_root_dir: Path) -> None:
    nb = nbformat.v4.new_notebook(nbformat_minor=4)
    nb.cells = [nbformat.v4.new_code_cell("a = 1")]
    raw = json.loads(nbformat.writes(nb))
    for cell in raw["cells"]:
        del cell["id"]
    raw["nbformat_minor"] = 4
    (jp_root_dir / PATH).write_text(json.dumps(raw))
    notebook = agent(jp_serverapp)
    (cell,) = await notebook.cells()
    assert cell.id and on_disk(jp_root_dir).cells[0].id == cell.id  # ids the agent can address, kept
    await notebook.edit(cell.id, "a = 2")
    assert on_disk(jp_root_dir).cells[0].source == "a = 2"


async def test_agent_undo_puts_the_file_back_exactly(jp_serverapp: Any, notebook_file: Path) -> None:
    saved = json.loads((notebook_file / PATH).read_text())["cells"]
    notebook = agent(jp_serverapp)
    snapshot = await notebook.snapshot()
    assert snapshot.order == [f"cell-{n}" for n in range(5)]
    await agent_turn(notebook)
    assert [c.id for c in on_disk(notebook_file).cells] != snapshot.order

    result = await notebook.restore(snapshot)
    assert (result.restored, result.removed, result.kept) == (4, 1, [])
    assert as_json((await agent(jp_serverapp).snapshot()).cells) == as_json(snapshot.cells)
    assert json.loads((notebook_file / PATH).read_text())["cells"] == saved  # the file, too
    with pytest.raises(ValueError, match="latest snapshot"):
        await notebook.restore(NotebookSnapshot(PATH, snapshot.cells, mark=snapshot.mark - 1))


async def test_agent_undo_keeps_what_people_changed(jp_serverapp: Any, notebook_file: Path) -> None:
    notebook = agent(jp_serverapp)
    snapshot = await notebook.snapshot()
    inserted = await agent_turn(notebook)
    person_edits_file(notebook_file, "cell-4", "z = 3  # bob, during the turn")  # the agent never touched it
    person_edits_file(notebook_file, inserted, "w = x * y  # bob likes it")  # after the agent wrote it

    result = await notebook.restore(snapshot)
    assert (result.restored, result.removed, result.kept) == (4, 0, [inserted])
    nb = on_disk(notebook_file)
    # the deleted cell is back at its index; bob's cell stays where the agent had put it
    assert [c.id for c in nb.cells] == ["cell-0", "cell-1", inserted, "cell-2", "cell-3", "cell-4"]
    assert nb.cells[2].source == "w = x * y  # bob likes it"
    assert nb.cells[5].source == "z = 3  # bob, during the turn"
    before = {c["id"]: c for c in snapshot.cells}
    after = {c["id"]: c for c in (await agent(jp_serverapp).snapshot()).cells}
    for cid in ("cell-0", "cell-1", "cell-2", "cell-3"):
        assert as_json([after[cid]]) == as_json([before[cid]])


# -- the shared document: a collaborator has the notebook open --------------------------------------
class TornadoChannel:
    """A pycrdt ``Channel`` over a tornado websocket client (the room's y-websocket protocol)."""

    def __init__(self, ws: Any, path: str) -> None:
        self.ws, self._path = ws, path

    @property
    def path(self) -> str:
        return self._path

    def __aiter__(self) -> TornadoChannel:
        return self

    async def __anext__(self) -> bytes:
        message = await self.ws.read_message()
        if message is None:
            raise StopAsyncIteration
        return message if isinstance(message, bytes) else message.encode()

    async def send(self, message: bytes) -> None:
        await self.ws.write_message(message, binary=True)

    async def recv(self) -> bytes:
        return await self.__anext__()


async def until(condition: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


def sources(document: Any) -> list[str]:
    return [str(c["source"]) for c in document.ycells]


@asynccontextmanager
async def bob_in_the_room(jp_fetch: Any, server: tuple[int, str, dict[str, str]]) -> AsyncIterator[Any]:
    from jupyter_ydoc import YNotebook
    from pycrdt import Provider

    reply = await jp_fetch(
        "api/collaboration/session",
        PATH,
        method="PUT",
        body=json.dumps({"format": "json", "type": "notebook"}),
    )
    session = json.loads(reply.body)
    room = f"{session['format']}:{session['type']}:{session['fileId']}"
    port, base_url, auth = server  # not jp_ws_fetch: it escapes the ':' of the room's name
    url = f"ws://localhost:{port}{base_url}api/collaboration/room/{room}?sessionId={session['sessionId']}"
    ws = await websocket_connect(HTTPRequest(url, headers=auth))
    document = YNotebook()
    async with Provider(document.ydoc, TornadoChannel(ws, room)) as provider:
        await asyncio.wait_for(provider.synced.wait(), 30)
        await until(lambda: len(document.ycells) == 5, "the room to load the notebook")
        yield document
    ws.close()


class TestAgentSharedDocument:
    @pytest.fixture
    def jp_server_config(self, nexus_config: Any, jp_root_dir: Path) -> dict[str, Any]:
        return nexus_config(
            extensions={"jupyter_server_ydoc": True, "jupyter_server_fileid": True},
            other={
                "YDocExtension": {"document_save_delay": 0.2},
                "BaseFileIdManager": {"db_path": str(jp_root_dir.parent / "file_id.db")},
                "SQLiteYStore": {"db_path": str(jp_root_dir.parent / "ystore.db")},
            },
        )

    @pytest.fixture
    def bob_opens(
        self,
        jp_fetch: Any,
        jp_http_port: int,
        jp_base_url: str,
        jp_auth_header: dict[str, str],
        jp_root_dir: Path,
    ) -> Any:
        """Bob opens the notebook: a Y notebook synced with the server's room (``async with``)."""
        write_notebook(jp_root_dir)
        return lambda: bob_in_the_room(jp_fetch, (jp_http_port, jp_base_url, jp_auth_header))

    async def test_agent_edits_go_into_the_live_document(
        self, jp_serverapp: Any, jp_root_dir: Path, bob_opens: Any
    ) -> None:
        nobody_there = agent(jp_serverapp)
        await nobody_there.cells()
        assert nobody_there.via == "file"  # collaboration is on, but no room is open: the file
        async with bob_opens() as person:
            await self.edits_go_into_the_live_document(jp_serverapp, jp_root_dir, person)

    async def edits_go_into_the_live_document(
        self, jp_serverapp: Any, jp_root_dir: Path, person: Any
    ) -> None:
        notebook = agent(jp_serverapp)
        cells = await notebook.cells()
        assert notebook.via == "shared-document" and [c.id for c in cells] == [f"cell-{n}" for n in range(5)]
        assert cells[2].outputs == [{"output_type": "stream", "name": "stdout", "text": "1\n"}]
        source_text = person.ycells[0]["source"]

        # bob types in cell 3 while the agent edits cell 0 and inserts a cell
        person.set_cell(3, source="y = 2  # bob")
        await notebook.edit("cell-0", "x = 5\nx")
        inserted = await notebook.insert("w = x + y", index=2)
        await notebook.set_outputs(
            "cell-0", [{"output_type": "stream", "name": "stdout", "text": "5\n"}], execution_count=4
        )
        want = ["x = 5\nx", "# Notes\nabout x", "w = x + y", "print(x)", "y = 2  # bob", "z = 3"]
        await until(lambda: sources(person) == want, "bob to see the agent's edits")
        assert notebook.via == "shared-document"
        assert str(source_text) == "x = 5\nx"  # the same Y text, edited in place: bob's cursor stays
        seen = person.get_cell(0)
        assert seen["id"] == "cell-0" and seen["metadata"]["nexus"]["agent_run"] == "run-1"
        assert seen["outputs"] == [{"output_type": "stream", "name": "stdout", "text": "5\n"}]
        assert seen["execution_count"] == 4
        assert person.get_cell(2)["metadata"]["nexus"]["requested_by"] == AUTHOR
        assert person.get_cell(2)["id"] == inserted.id

        # bob's edit and the agent's are both saved by the room
        await until(lambda: saved_sources(jp_root_dir) == want, "the room to save the file")

        # bob changes the cell the agent read: the agent's edit is refused, his text stays
        room = await server_document(jp_serverapp)
        person.set_cell(0, source="x = 6  # bob\nx")
        await until(lambda: sources(room)[0] == "x = 6  # bob\nx", "the room to get bob's edit")
        with pytest.raises(CellChanged):
            await notebook.edit("cell-0", "x = 7\nx")
        await asyncio.sleep(0.2)
        assert str(person.ycells[0]["source"]) == "x = 6  # bob\nx"

    async def test_agent_undo_in_the_live_document(
        self, jp_serverapp: Any, jp_root_dir: Path, bob_opens: Any
    ) -> None:
        async with bob_opens() as person:
            await self.undo_in_the_live_document(jp_serverapp, jp_root_dir, person)

    async def undo_in_the_live_document(self, jp_serverapp: Any, jp_root_dir: Path, person: Any) -> None:
        room = await server_document(jp_serverapp)
        notebook = agent(jp_serverapp)
        snapshot = await notebook.snapshot()
        assert notebook.via == "shared-document"
        inserted = await agent_turn(notebook)
        await until(lambda: len(person.ycells) == 5 and str(person.ycells[0]["source"]) == "y = 2", "bob")
        person.set_cell(4, source="z = 3  # bob")  # a cell the agent never touched

        await until(lambda: sources(room)[4] == "z = 3  # bob", "the room to get bob's edit")
        result = await notebook.restore(snapshot)
        assert (result.restored, result.removed, result.kept) == (4, 1, [])
        assert notebook.via == "shared-document"
        after = (await agent(jp_serverapp).snapshot()).cells
        assert inserted not in [c["id"] for c in after]
        expected = [*snapshot.cells[:4], {**snapshot.cells[4], "source": "z = 3  # bob"}]
        assert as_json(after) == as_json(expected)  # the agent's changes gone, bob's kept
        await until(lambda: [person.get_cell(i) for i in range(len(person.ycells))] == after, "bob to see it")
        want = ["x = 1\nx", "# Notes\nabout x", "print(x)", "y = 2", "z = 3  # bob"]
        await until(lambda: saved_sources(jp_root_dir) == want, "the room to save the undo")


async def server_document(serverapp: Any) -> Any:
    """The room's own copy of the shared document, as the agent gets it."""
    ydoc = serverapp.web_app.settings["jupyter_server_ydoc"]
    return await ydoc.get_document(path=PATH, content_type="notebook", file_format="json", copy=False)
