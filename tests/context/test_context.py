"""The context manager against a real kernel, a real notebook on disk and pylsp through jupyter-lsp."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest

from nexus_server_ext.api_models import ChatContext
from nexus_server_ext.context.diagnostics import SourceDocument
from nexus_server_ext.context.kernel_state import summarize_variables
from nexus_server_ext.context.lsp import LanguageServers
from nexus_server_ext.context.manager import ContextManager, ContextPiece, fit, tokens

TIMES = "\N{MULTIPLICATION SIGN}"


@pytest.fixture
def jp_server_config(nexus_config: Any) -> dict[str, Any]:
    return nexus_config(extensions={"jupyter_lsp": True})


async def run(client: Any, code: str) -> dict[str, Any]:
    msg_id = client.execute(code)
    while True:
        reply = await client.get_shell_msg(timeout=60)
        if reply["parent_header"].get("msg_id") == msg_id:
            return reply["content"]


async def test_context_has_the_traceback_and_dataframe_columns_without_touching_history(
    jp_serverapp: Any,
) -> None:
    km = jp_serverapp.kernel_manager  # a real kernel, started by the server's own kernel manager
    kernel_id = await km.start_kernel(kernel_name="python3")
    client = km.get_kernel(kernel_id).client()
    client.start_channels()
    try:
        await client.wait_for_ready(timeout=60)
        await check_kernel_context(jp_serverapp, kernel_id, client)
    finally:
        client.stop_channels()
        await km.shutdown_kernel(kernel_id, now=True)


async def check_kernel_context(jp_serverapp: Any, kernel_id: str, client: Any) -> None:
    await run(client, "import pandas as pd\nsales = pd.DataFrame({'region': ['north'], 'revenue': [1.5]})")
    failed = await run(client, "def ratio(a, b):\n    return a / b\nratio(1, 0)")
    assert failed["status"] == "error"
    count = failed["execution_count"]

    manager = ContextManager(jp_serverapp, None)
    bundle = await manager.gather("alice", "why did it fail", ChatContext(kernel_id=kernel_id))
    by_kind = {p.kind: p.text for p in bundle.pieces}
    assert "ZeroDivisionError" in by_kind["error"] and "ratio" in by_kind["error"]
    assert "Traceback" in by_kind["error"]
    assert "sales: pandas.DataFrame shape=(1, 2)" in by_kind["variables"]
    assert "region (object)" in by_kind["variables"] or "region (str)" in by_kind["variables"]
    assert "revenue (float64)" in by_kind["variables"]
    # the chat panel's "Context used" line: names, shapes and columns in a few words
    [variables] = [p for p in bundle.pieces if p.kind == "variables"]
    assert f"sales (DataFrame 1{TIMES}2: region, revenue)" in variables.summary, variables.summary
    assert variables.summary.startswith("Kernel variables: ")
    # the error is the last cell's: its facts come along, found in the function the cell called
    assert bundle.facts is not None and bundle.facts.exc_type == "ZeroDivisionError"
    assert (bundle.facts.lineno, bundle.facts.line, bundle.facts.function) == (2, "return a / b", "ratio")
    assert bundle.facts.cause == "the divisor `b` is 0"

    after = await run(client, "print('summarize' in globals(), 'd' in globals(), len(In))")
    assert after["execution_count"] == count + 1  # the inspection did not count as an execution
    leaked = await run(client, "assert 'summarize' not in globals() and 'd' not in globals()")
    assert leaked["status"] == "ok"
    later = await manager.gather("alice", "why did it fail", ChatContext(kernel_id=kernel_id))
    assert later.facts is None  # a cell ran fine since: the old error is context, not the subject
    assert any(p.kind == "error" for p in later.pieces)

    # a KeyError: the facts list the dict's keys, from the kernel's own summary
    await run(client, "prices = {'apple': 1.2, 'pear': 0.8}")
    await run(client, "cost = prices['aple'] * 3")
    keyed = await manager.gather("alice", "why", ChatContext(kernel_id=kernel_id))
    assert keyed.facts is not None and keyed.facts.line == "cost = prices['aple'] * 3"
    assert keyed.facts.cause == (
        "key 'aple' is not in `prices`; its keys are: 'apple', 'pear' (did you mean 'apple'?)"
    )
    # an attribute typo: the kernel, which holds the object, finds the closest name
    await run(client, "import math\nroot = math.sqroot(16)")
    typo = await manager.gather("alice", "why", ChatContext(kernel_id=kernel_id))
    assert typo.facts is not None
    assert typo.facts.cause == "the module `math` has no attribute `sqroot`; did you mean `sqrt`?"

    excluded = await manager.gather(
        "alice", "why", ChatContext(kernel_id=kernel_id, exclude=["error", "variables"])
    )
    assert not excluded.pieces


async def test_a_busy_kernel_is_not_waited_for(jp_serverapp: Any) -> None:
    """Asking while a long cell runs (a model training): the answer comes at once, from the state NEXUS
    last read, and says the kernel is busy."""
    km = jp_serverapp.kernel_manager
    kernel_id = await km.start_kernel(kernel_name="python3")
    client = km.get_kernel(kernel_id).client()
    client.start_channels()
    try:
        await client.wait_for_ready(timeout=60)
        manager = ContextManager(jp_serverapp, None)
        await run(client, "epochs = 3")
        fresh = await manager.gather("alice", "how many epochs?", ChatContext(kernel_id=kernel_id))
        assert fresh.kernel_note == "" and "epochs: int = 3" in fresh.pieces[-1].text
        client.execute("import time\nepochs = 4\ntime.sleep(30)")  # still running when asked
        kernel = km.get_kernel(kernel_id)
        for _ in range(100):
            if kernel.execution_state == "busy":
                break
            await asyncio.sleep(0.05)
        started = time.monotonic()
        busy = await manager.gather("alice", "how many epochs?", ChatContext(kernel_id=kernel_id))
        assert time.monotonic() - started < 1.0  # not the 10 s a busy kernel used to cost
        note = "_The kernel is busy running a cell; this answer uses its variables as they were"
        assert busy.kernel_note.startswith(note), busy.kernel_note
        [variables] = [p for p in busy.pieces if p.kind == "variables"]
        assert "epochs: int = 3" in variables.text and "as they were" in variables.label
        other = ContextManager(jp_serverapp, None)
        unknown = await other.gather("alice", "how many epochs?", ChatContext(kernel_id=kernel_id))
        assert "no variables (NEXUS has not read them yet)" in unknown.kernel_note
    finally:
        client.stop_channels()
        await km.shutdown_kernel(kernel_id, now=True)


async def test_notebook_cells_neighbours_and_diagnostics(jp_serverapp: Any, jp_root_dir: Path) -> None:
    notebook = {
        "cells": [
            {
                "id": "a",
                "cell_type": "code",
                "source": "import numpy as np\nvalues = [1, 2]",
                "metadata": {},
                "outputs": [{"output_type": "stream", "name": "stdout", "text": "x" * 2000}],
                "execution_count": 1,
            },
            {
                "id": "b",
                "cell_type": "code",
                "source": "%matplotlib inline\ntotal = sum(values) + missing",
                "metadata": {},
                "outputs": [],
                "execution_count": 2,
            },
            {"id": "c", "cell_type": "markdown", "source": "Results below.", "metadata": {}},
        ],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    (jp_root_dir / "analysis.ipynb").write_text(json.dumps(notebook))
    servers = LanguageServers(jp_serverapp, timeout_s=60, start_wait_s=60)  # the first request starts pylsp
    manager = ContextManager(jp_serverapp, None, language_servers=servers)
    request = ChatContext(notebook_path="analysis.ipynb", cell_id="b", selection="sum(values)")
    try:
        bundle = await manager.gather("alice", "fix it", request)
    finally:
        servers.stop()
    by_kind = {p.kind: p.text for p in bundle.pieces if not p.label.startswith("Names on the current line")}
    facts = next(p.text for p in bundle.pieces if p.label.startswith("Names on the current line"))
    assert "`values`" in facts and "cell 1, line 2 of analysis.ipynb" in facts
    assert by_kind["selection"] == "sum(values)"
    assert by_kind["cell"].startswith("%matplotlib inline\ntotal = sum(values) + missing")
    assert "values = [1, 2]" in by_kind["neighbours"] and "Results below." in by_kind["neighbours"]
    assert "[output truncated]" in by_kind["neighbours"]  # outputs are cut, sources kept
    assert "line 2" in by_kind["diagnostics"] and "undefined name 'missing'" in by_kind["diagnostics"]
    assert "values" not in by_kind["diagnostics"]  # defined in the cell above
    order = [p.kind for p in bundle.pieces]
    assert order == ["selection", "cell", "diagnostics", "diagnostics", "neighbours"]
    assert [p.summary for p in bundle.pieces if p.kind == "cell"] == ["Cell 2"]  # as JupyterLab counts


def test_the_variables_summary_is_short_whatever_the_kernel_holds() -> None:
    table = {"name": "df", "type": "pandas.core.frame.DataFrame", "shape": [3, 2]}
    many = {f"c{i}": "int64" for i in range(9)}
    variables = [
        {**table, "columns": {"sales": "int64", "region": "object"}},
        {"name": "x", "type": "int", "value": "3"},
        {"name": "grid", "type": "numpy.ndarray", "shape": [4, 5]},
        {"name": "wide", "type": "pandas.core.frame.DataFrame", "shape": [1, 9], "columns": many},
    ]
    assert summarize_variables(variables) == (
        f"df (DataFrame 3{TIMES}2: sales, region), x, grid (ndarray 4{TIMES}5), "
        f"wide (DataFrame 1{TIMES}9: c0, c1, c2, c3, …)"
    )
    names = [{"name": f"v{i}", "type": "int"} for i in range(10)]
    assert summarize_variables(names) == "v0, v1, v2, v3, v4, v5, and 4 more"
    assert summarize_variables([]) == ""


def test_the_budget_keeps_priorities_and_truncates() -> None:
    pieces = [
        ContextPiece("neighbours", "n", "n" * 4000),
        ContextPiece("error", "e", "first line\n" + "frame\n" * 500 + "ValueError: bad"),
        ContextPiece("selection", "s", "x = 1"),
    ]
    kept, dropped = fit(pieces, 400)
    assert [p.kind for p in kept] == ["selection", "error", "neighbours"]
    assert kept[1].text.endswith("ValueError: bad")  # a traceback keeps its tail
    assert sum(tokens(p.text) for p in kept) <= 400
    pieces += [ContextPiece("cell", "c", "c" * 4000), ContextPiece("diagnostics", "d", "d" * 4000)]
    kept, dropped = fit(pieces, 400)
    assert [p.kind for p in kept] == ["selection", "error", "cell", "diagnostics"] and dropped == ["n"]
    assert sum(tokens(p.text) for p in kept) <= 400


def test_the_language_server_sees_earlier_cells_and_no_magics() -> None:
    document = SourceDocument.for_cells(
        "nb.ipynb",
        "python",
        ".py",
        [(1, "import pandas as pd\ndf = pd.DataFrame()"), (3, "!pip list\nprint(df.head())")],
        cursor_line=None,
    )
    assert document.text == "import pandas as pd\ndf = pd.DataFrame()\n\nprint(df.head())\n"
    assert (document.first_line, document.line_count) == (2, 2)
    assert document.place(1) == "cell 1, line 2" and document.place(3) == "cell 3, line 2"
    assert document.current_line() == (3, "print(df.head())")  # no cursor: the last line with code
    assert [name for name, _, _ in document.names_on_line()] == ["print", "df", "head"]
