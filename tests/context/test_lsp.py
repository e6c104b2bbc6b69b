"""The AI context asks the language servers jupyter-lsp manages (a real pylsp, started by jupyter-lsp)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nexus_server_ext.api_models import ChatContext
from nexus_server_ext.context.lsp import LanguageServers
from nexus_server_ext.context.manager import ContextManager


@pytest.fixture
def jp_server_config(nexus_config: Any) -> dict[str, Any]:
    return nexus_config(extensions={"jupyter_lsp": True})


@pytest.fixture
def context(jp_serverapp: Any) -> Iterator[ContextManager]:
    # a generous wait: the first request starts pylsp, which takes seconds on a busy machine
    servers = LanguageServers(
        jp_serverapp, timeout_s=60, start_wait_s=60, ignore_sources=["pycodestyle", "mccabe"]
    )
    try:
        yield ContextManager(jp_serverapp, None, language_servers=servers)
    finally:
        servers.stop()


def notebook(cells: list[tuple[str, str]], metadata: dict[str, Any] | None = None) -> str:
    return json.dumps(
        {
            "cells": [
                {
                    "id": cid,
                    "cell_type": "code",
                    "source": src,
                    "metadata": {},
                    "outputs": [],
                    "execution_count": None,
                }
                for cid, src in cells
            ],
            "metadata": metadata or {},
            "nbformat": 4,
            "nbformat_minor": 5,
        }
    )


async def test_pylsp_through_jupyter_lsp_reports_the_undefined_name_and_where_names_come_from(
    context: ContextManager, jp_root_dir: Path
) -> None:
    (jp_root_dir / "sales.ipynb").write_text(
        notebook(
            [
                ("a", "import os\nprices = [1.5, 2.0]"),
                ("b", "%matplotlib inline\ntotal = sum(prices) + shipping\nprint(os.getcwd())"),
            ],
            {"language_info": {"name": "python", "file_extension": ".py"}},
        )
    )
    request = ChatContext(notebook_path="sales.ipynb", cell_id="b", cursor_line=1)
    bundle = await context.gather("alice", "why is it wrong", request)
    pieces = {p.label: p.text for p in bundle.pieces if p.kind == "diagnostics"}
    diagnostics = pieces["Diagnostics from python-lsp-server (pylsp)"]
    assert "line 2:" in diagnostics and "undefined name 'shipping'" in diagnostics
    assert "prices" not in diagnostics  # defined in the cell above: pylsp saw the whole notebook
    facts = pieces["Names on the current line, from python-lsp-server (pylsp)"]
    assert "`prices`" in facts and "cell 1, line 2 of sales.ipynb" in facts
    assert "`sum`" in facts  # a builtin: hover text from the server

    # the session is jupyter-lsp's own class, started from the spec jupyter-lsp detected
    connection = next(iter(context.language_servers._connections.values()))
    assert type(connection.session).__module__.startswith("jupyter_lsp")
    assert connection.key == "pylsp"


async def test_a_language_without_a_server_says_so(context: ContextManager, jp_root_dir: Path) -> None:
    (jp_root_dir / "stats.ipynb").write_text(
        notebook(
            [("r1", "x <- c(1, 2, 3)\nmean(y)")],
            {"kernelspec": {"name": "ir", "language": "R", "display_name": "R"}},
        )
    )
    bundle = await context.gather("alice", "why", ChatContext(notebook_path="stats.ipynb", cell_id="r1"))
    notes = [p.text for p in bundle.pieces if p.kind == "diagnostics"]
    assert notes == [
        "No language server for r is installed (jupyter-lsp found none), so there are no diagnostics "
        "or type facts for this code."
    ]


async def test_the_first_answer_does_not_wait_for_a_starting_server(
    jp_serverapp: Any, jp_root_dir: Path
) -> None:
    """The shipped default: a question that arrives while pylsp starts goes on without diagnostics
    (the note says so); the server starts at a lower CPU priority and the next question has them."""
    import os

    (jp_root_dir / "late.ipynb").write_text(notebook([("a", "total = sum(prices)")]))
    await jp_serverapp.language_server_manager.ready()  # it has looked for servers, as a second after start
    servers = LanguageServers(jp_serverapp, timeout_s=60)  # start_wait_s: the default, no wait
    manager = ContextManager(jp_serverapp, None, language_servers=servers)
    request = ChatContext(notebook_path="late.ipynb", cell_id="a")
    try:
        first = await manager.gather("alice", "why", request)
        connection = servers._connections["pylsp"]
        assert not connection.ready.done()  # the answer went on while the server was still starting
        notes = [p.text for p in first.pieces if p.kind == "diagnostics"]
        assert notes == [
            "The python-lsp-server (pylsp) language server is starting; the next answer will have its "
            "diagnostics."
        ]
        pid = connection.session.process.pid
        assert os.getpriority(os.PRIO_PROCESS, pid) > os.getpriority(os.PRIO_PROCESS, 0)  # niced
        await asyncio.wait_for(asyncio.shield(connection.ready), 60)
        second = await manager.gather("alice", "why", request)
    finally:
        servers.stop()
    diagnostics = [p.text for p in second.pieces if p.label.startswith("Diagnostics from")]
    assert len(diagnostics) == 1 and "undefined name 'prices'" in diagnostics[0]
