"""The agent's kernel access against a real ipykernel: cells, timeouts, interrupts, checkpoints."""

from __future__ import annotations

import asyncio
import struct
import time
import zlib
from collections.abc import Iterator
from typing import Any

import pytest
from jupyter_client.multikernelmanager import AsyncMultiKernelManager

from nexus_server_ext.agent.kernel import CheckpointNotFound, NotebookKernel
from nexus_server_ext.agent.outputs import Execution


@pytest.fixture
def kernels(jp_environ: Any, jp_asyncio_loop: asyncio.AbstractEventLoop) -> Iterator[Any]:
    """The python3 kernel, started by an async multi-kernel manager like the server's."""
    manager = AsyncMultiKernelManager()
    kernel_id = jp_asyncio_loop.run_until_complete(manager.start_kernel(kernel_name="python3"))
    yield manager, kernel_id
    jp_asyncio_loop.run_until_complete(manager.shutdown_all(now=True))


@pytest.fixture
def kernel(kernels: Any) -> NotebookKernel:
    return NotebookKernel(*kernels)


@pytest.fixture
def frontend(kernels: Any, jp_asyncio_loop: asyncio.AbstractEventLoop) -> Iterator[Any]:
    """A client on the manager's own session, as the notebook's websocket connection has."""
    manager, kernel_id = kernels
    client = manager.get_kernel(kernel_id).client()
    client.start_channels()
    jp_asyncio_loop.run_until_complete(client.wait_for_ready(timeout=60))
    yield client
    client.stop_channels()


def tiny_png(width: int = 3, height: int = 2) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


async def peek(client: Any, expression: str) -> str:
    """``expression``'s repr, evaluated without touching the history (as NEXUS's own probes do)."""
    msg_id = client.execute("", silent=True, store_history=False, user_expressions={"v": expression})
    while True:
        reply = await client.get_shell_msg(timeout=30)
        if reply["parent_header"].get("msg_id") == msg_id:
            result = reply["content"]["user_expressions"]["v"]
            assert result["status"] == "ok", result
            return str(result["data"]["text/plain"])


async def test_agent_execute_collects_streams_results_and_images(kernel: NotebookKernel) -> None:
    seen: list[dict[str, Any]] = []
    code = (
        "from IPython.display import Image, display\n"
        "print('hello')\nprint('world')\n"
        f"display(Image(data={tiny_png()!r}, format='png'))\n"
        "40 + 2"
    )
    run = await kernel.execute(code, on_output=seen.append)

    assert run.status == "ok" and run.error is None
    kinds = [o["output_type"] for o in run.outputs]
    assert kinds == ["stream", "display_data", "execute_result"]  # the two prints merged into one
    assert run.outputs[0]["text"] == "hello\nworld\n"
    assert "image/png" in run.outputs[1]["data"]
    assert run.outputs[2]["data"]["text/plain"] == "42"
    assert run.outputs[2]["execution_count"] == run.execution_count
    assert [o["output_type"] for o in seen][-2:] == ["display_data", "execute_result"]

    summary = run.summary()
    assert "hello\nworld" in summary and "42" in summary
    assert f"[image/png 3x2, {len(tiny_png())} B]" in summary
    assert "IPython.core.display.Image object" not in summary


async def test_agent_execute_reports_errors_and_clears_output(kernel: NotebookKernel) -> None:
    failed = await kernel.execute("def ratio(a, b):\n    return a / b\nratio(1, 0)")
    assert failed.status == "error"
    assert failed.error is not None
    assert failed.error["ename"] == "ZeroDivisionError"
    assert failed.error["evalue"] == "division by zero"
    summary = failed.summary()
    assert summary.startswith("ZeroDivisionError: division by zero")
    assert "return a / b" in summary and "\x1b[" not in summary

    cleared = await kernel.execute(
        "from IPython.display import clear_output\n"
        "print('old')\nclear_output()\nprint('step 1')\nclear_output(wait=True)\nprint('step 2')"
    )
    assert cleared.outputs == [{"output_type": "stream", "name": "stdout", "text": "step 2\n"}]


async def test_agent_execute_is_a_real_cell_run(kernel: NotebookKernel, frontend: Any) -> None:
    first = await kernel.execute("x = 21\nx * 2")
    second = await kernel.execute("x + 1")
    assert first.execution_count is not None
    assert second.execution_count == first.execution_count + 1
    assert await peek(frontend, f"In[{first.execution_count}]") == repr("x = 21\nx * 2")
    assert await peek(frontend, f"Out[{second.execution_count}]") == "22"


async def test_agent_execute_times_out_and_the_kernel_still_answers(kernel: NotebookKernel) -> None:
    started = time.monotonic()
    run = await kernel.execute("while True:\n    pass", timeout=2)
    assert run.status == "timeout"
    assert time.monotonic() - started < 10
    assert "time limit" in run.summary()

    after = await kernel.execute("'still here'", timeout=30)
    assert after.status == "ok"
    assert after.outputs[-1]["data"]["text/plain"] == "'still here'"


async def test_agent_interrupt_stops_a_running_cell(kernel: NotebookKernel) -> None:
    started = time.monotonic()
    cell = asyncio.ensure_future(kernel.execute("import time\ntime.sleep(30)"))
    await asyncio.sleep(2)
    await kernel.interrupt()
    run = await asyncio.wait_for(cell, 15)
    assert run.status == "interrupted"
    assert time.monotonic() - started < 10


async def test_agent_does_not_steal_the_notebooks_replies(kernel: NotebookKernel, frontend: Any) -> None:
    agent = asyncio.ensure_future(kernel.execute("import time\ntime.sleep(1)\n'agent'"))
    await asyncio.sleep(0.3)
    msg_id = frontend.execute("'notebook'")  # queued behind the agent's cell, asked on the frontend's session
    checkpoint = asyncio.ensure_future(kernel.checkpoint("while-busy"))
    while True:
        reply = await frontend.get_shell_msg(timeout=30)
        if reply["parent_header"].get("msg_id") == msg_id:
            break
    assert reply["content"]["status"] == "ok"
    assert (await agent).status == "ok"
    await checkpoint


async def test_agent_checkpoint_and_restore_bring_the_variables_back(kernel: NotebookKernel) -> None:
    setup = await kernel.execute(
        "import math\n"
        "import pandas as pd\n"
        "rows = [1, 2, 3]\nalias = rows\nconfig = {'a': {'b': 1}}\ncount = 5\ndoomed = 'bye'\n"
        "frame = pd.DataFrame({'x': [1.0, 2.0]})\n"
        "squares = (i * i for i in range(5))\n"
        "def double(v):\n    return 2 * v\n"
        "class Point:\n    def __init__(self, x):\n        self.x = x\n"
        "spot = Point(1)\n"
        "big = bytes(3_000_000)"
    )
    assert setup.status == "ok", setup.summary()

    saved = await kernel.checkpoint("turn-1", max_bytes=1_000_000)
    assert {"rows", "alias", "config", "count", "doomed", "frame"} <= set(saved.saved)
    assert saved.referenced["squares"] == "a generator cannot be copied"
    assert saved.referenced["math"] == "a module"
    assert saved.referenced["double"] == "a function"
    assert "over the copy limit" in saved.referenced["big"]
    assert not any(name.startswith("_") or name in ("In", "Out") for name in saved.saved)

    changed = await kernel.execute(
        "rows.append(4)\nconfig['a']['b'] = 2\ncount = 6\nfresh = 'new'\ndel doomed\n"
        "frame.loc[0, 'x'] = 99.0\nnext(squares)\nmath = None\ndef double(v):\n    return 0\n"
        "spot.x = 2\nclass Point:\n    pass"
    )
    assert changed.status == "ok", changed.summary()

    report = await kernel.restore("turn-1")
    assert report.removed == ["fresh"]
    assert {"rows", "alias", "config", "count", "doomed", "frame", "math", "double", "Point", "spot"} <= set(
        report.restored
    )
    assert set(report.not_restored) == {"squares", "big"}
    assert "generator" in report.not_restored["squares"]

    check = await kernel.execute(
        "assert rows == [1, 2, 3] and alias is rows, rows\n"
        "assert config == {'a': {'b': 1}}, config\n"
        "assert count == 5 and doomed == 'bye' and 'fresh' not in globals()\n"
        "assert frame['x'].tolist() == [1.0, 2.0]\n"
        "assert math.sqrt(4) == 2 and double(3) == 6\n"
        "assert next(squares) == 1  # the same generator again, still advanced\n"
        "assert type(spot) is Point and spot.x == 1 and hasattr(Point, '__init__')\n"
        "print('all back')"
    )
    assert check.status == "ok", check.summary()
    assert check.outputs[0]["text"] == "all back\n"

    again = await kernel.restore("turn-1")  # a checkpoint can be restored more than once
    assert again.removed == []
    await kernel.discard("turn-1")
    with pytest.raises(CheckpointNotFound):
        await kernel.restore("turn-1")


async def test_agent_checkpoint_leaves_history_and_notebook_untouched(
    kernel: NotebookKernel, frontend: Any
) -> None:
    await kernel.execute("value = [1]\nvalue")
    state = "(len(In), len(Out), get_ipython().execution_count, sorted(globals()))"
    before = await peek(frontend, state)
    while True:  # drain what the setup cell published
        try:
            await frontend.get_iopub_msg(timeout=0.5)
        except Exception:
            break

    await kernel.checkpoint("quiet")
    await kernel.restore("quiet")
    await kernel.discard("quiet")

    assert await peek(frontend, state) == before  # no In/Out entry, no new count, no name left behind
    published = []
    while True:
        try:
            published.append(await frontend.get_iopub_msg(timeout=0.5))
        except Exception:
            break
    assert {m["msg_type"] for m in published} <= {"status"}, published


async def test_agent_execute_reports_a_dead_kernel(kernel: NotebookKernel) -> None:
    started = time.monotonic()
    run = await kernel.execute("import os\nprint('going', flush=True)\nos._exit(1)", timeout=60)
    assert run.status == "error"
    assert run.error is not None and run.error["ename"] == "DeadKernel"
    assert "died" in run.summary()
    assert time.monotonic() - started < 20


def test_agent_summary_cuts_long_text_in_the_middle() -> None:
    text = "".join(f"line {i}\n" for i in range(2000))
    run = Execution("ok", [{"output_type": "stream", "name": "stdout", "text": text}], 1)
    summary = run.summary(limit=500)
    assert len(summary) <= 500
    assert summary.startswith("line 0\n") and summary.endswith("line 1999")
    assert "characters cut ...]" in summary
    progress = Execution(
        "ok", [{"output_type": "stream", "name": "stderr", "text": "\r10%\r50%\r100%\ndone\n"}], 2
    )
    assert progress.summary() == "100%\ndone"
    assert Execution("ok", [], 3).summary() == "(no output)"


async def test_agent_kernel_works_with_the_servers_kernel_manager(jp_serverapp: Any) -> None:
    manager = jp_serverapp.kernel_manager  # jupyter_server's own async manager, as the agent gets it
    kernel_id = await manager.start_kernel(kernel_name="python3")
    try:
        kernel = NotebookKernel(manager, kernel_id)
        assert (await kernel.execute("answer = 41\nanswer + 1")).outputs[-1]["data"]["text/plain"] == "42"
        await kernel.checkpoint("server")
        await kernel.execute("answer = 0")
        assert (await kernel.restore("server")).restored == ["answer"]
        cell = asyncio.ensure_future(kernel.execute("import time\ntime.sleep(30)"))
        await asyncio.sleep(2)
        await kernel.interrupt()
        assert (await asyncio.wait_for(cell, 15)).status == "interrupted"
        assert (await kernel.execute("answer")).outputs[-1]["data"]["text/plain"] == "41"
    finally:
        await manager.shutdown_kernel(kernel_id, now=True)
