"""The debug panel's Explain / Fix through a real server and the notebook's real kernel: every fix
runs in a scratch process seeded from the kernel before it is offered, and the kernel is untouched.

The model is a real local HTTP server speaking the OpenAI protocol (a scripted stand-in: it answers
with the fix a test gives it); the server, the kernel and the check process are real."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import nbformat
import pytest

from tests.support.scripted_models import ScriptedModelServer, scripted_routing

FIX_PROMPT = "This code raised the error below. Explain the cause, then give the corrected code."


@pytest.fixture
def model() -> Iterator[ScriptedModelServer]:
    with ScriptedModelServer([{"text": "No idea."}]) as server:
        yield server


@pytest.fixture
def jp_server_config(nexus_config: Any, model: ScriptedModelServer) -> dict[str, Any]:
    return nexus_config(routing=scripted_routing(model, tasks=("code_generation",)))


async def open_notebook_kernel(jp_fetch: Any, root: Path, name: str) -> str:
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, root / name)
    body = {"path": name, "name": name, "type": "notebook", "kernel": {"name": "python3"}}
    reply = await jp_fetch("api", "sessions", method="POST", body=json.dumps(body))
    return str(json.loads(reply.body)["kernel"]["id"])


async def execute(client: Any, code: str) -> dict[str, Any]:
    """Run a cell as the notebook does; its reply, with the traceback text when it raised."""
    msg_id = client.execute(code)
    while True:
        reply = await client.get_shell_msg(timeout=60)
        if reply["parent_header"].get("msg_id") == msg_id:
            content = dict(reply["content"])
            content["traceback_text"] = "\n".join(content.get("traceback", []))
            return content


SETUP = (
    "import pandas as pd\n"
    "class Point:\n    def __init__(self, x):\n        self.x = x\n"
    "def scaled(p, k):\n    return Point(p.x * k)\n"
    "p = Point(2)\n"
    "df = pd.DataFrame({'sales': [1, 2, 3]})\n"
)


@asynccontextmanager
async def notebook_kernel(jp_fetch: Any, jp_serverapp: Any, root: Path) -> AsyncIterator[Any]:
    """The notebook's kernel (a session, as JupyterLab opens it) after its setup cell ran."""
    kernel_id = await open_notebook_kernel(jp_fetch, root, "sales.ipynb")
    client = jp_serverapp.kernel_manager.get_kernel(kernel_id).client()
    client.start_channels()
    try:
        await client.wait_for_ready(timeout=60)
        assert (await execute(client, SETUP))["status"] == "ok"
        yield client
    finally:
        client.stop_channels()


async def fix(jp_fetch: Any, code: str, error: str) -> dict[str, Any]:
    body = {"prompt": FIX_PROMPT, "context": {"code": code, "error": error, "notebook_path": "sales.ipynb"}}
    reply = await jp_fetch("nexus", "api", "v1", "generate", method="POST", body=json.dumps(body))
    return dict(json.loads(reply.body))


async def kernel_value(client: Any, expression: str) -> str:
    msg_id = client.execute("", user_expressions={"v": expression}, silent=True)
    while True:
        reply = await client.get_shell_msg(timeout=30)
        if reply["parent_header"].get("msg_id") == msg_id:
            return str(reply["content"]["user_expressions"]["v"]["data"]["text/plain"])


async def test_a_computed_fix_is_checked_on_copies_of_the_kernels_values(
    jp_fetch: Any, jp_serverapp: Any, jp_root_dir: Path
) -> None:
    async with notebook_kernel(jp_fetch, jp_serverapp, jp_root_dir) as kernel:
        await computed_fix_is_checked(jp_fetch, kernel)


async def computed_fix_is_checked(jp_fetch: Any, kernel: Any) -> None:
    cell = "p.x = 100\nq = scaeld(p, 3)\ntotal = df['sales'].sum() + q.x"
    failed = await execute(kernel, cell)
    assert failed["ename"] == "NameError"
    before = await kernel_value(kernel, "p.x")  # the cell set it before it raised
    reply = await fix(jp_fetch, cell, failed["traceback_text"])
    assert reply["outcome"] == "computed" and reply["code"] == cell.replace("scaeld", "scaled")
    check = reply["check"]
    assert check["status"] == "verified", check
    assert {"p", "Point", "scaled", "df"} <= set(check["copied"])
    assert "**Checked:** the fixed cell runs without error in a separate process" in reply["explanation"]
    # the check ran the fixed cell (which sets p.x) on copies: the kernel's objects are as they were
    assert await kernel_value(kernel, "p.x") == before
    assert await kernel_value(kernel, "'q' in globals()") == "False"


async def test_model_fixes_are_offered_only_when_they_run(
    jp_fetch: Any, jp_serverapp: Any, jp_root_dir: Path, model: ScriptedModelServer
) -> None:
    async with notebook_kernel(jp_fetch, jp_serverapp, jp_root_dir) as kernel:
        await model_fix_that_still_raises(jp_fetch, kernel, model)
        await model_fix_that_runs(jp_fetch, kernel, model)


async def model_fix_that_still_raises(jp_fetch: Any, kernel: Any, model: ScriptedModelServer) -> None:
    cell = "total = df['Revenue'].sum()"
    failed = await execute(kernel, cell)
    assert failed["ename"] == "KeyError"
    still_broken = "The column is missing.\n\n```python\ntotal = df['Profit'].sum()\n```"
    model.script = lambda messages: {"text": still_broken}
    reply = await fix(jp_fetch, cell, failed["traceback_text"])
    assert reply["code"] == "", reply  # nothing to apply
    assert reply["check"]["status"] == "failed"
    assert "still raises KeyError" in reply["check"]["detail"]
    assert "<details><summary>Unverified suggestion (not offered as a fix)</summary>" in reply["explanation"]
    assert "df['Profit']" in reply["explanation"]  # a non-bundled model's attempt stays readable, folded


async def model_fix_that_runs(jp_fetch: Any, kernel: Any, model: ScriptedModelServer) -> None:
    cell = "mean = df['sales'].sum() / len(empty)"
    failed = await execute(kernel, cell)
    assert failed["ename"] == "NameError"
    good = "Divide by the row count.\n\n```python\nmean = df['sales'].sum() / len(df)\n```"
    model.script = lambda messages: {"text": good}
    reply = await fix(jp_fetch, cell, failed["traceback_text"])
    assert reply["code"].strip() == "mean = df['sales'].sum() / len(df)"
    assert reply["check"]["status"] == "verified" and "df" in reply["check"]["copied"]
    assert reply["explanation"].rstrip().endswith(reply["check"]["detail"])
