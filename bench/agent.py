"""What the notebook agent costs on top of its model, and how often a model reaches a small goal.

One process, real services: jupyter_server's file contents manager, kernel and session managers (a
notebook file, its ``python3`` kernel), NEXUS's ``AgentService`` with a real ``ModelRouter``, audit
log and interaction log (SQLite), tools and ``AgentNotebook`` (the file path: no collaboration room).

Overhead (``--repeats`` N, the model excluded): a scripted tool-calling model (a real OpenAI-style
HTTP server answering at once, ``tests/support/scripted_models.py``) drives one ``auto`` turn in a
notebook of 10 cells: N times insert a cell, edit it, run it. Every model call is timed at the
router; a step's round trip is the gap between the answer that asked for the tool and the next
model call (schema check, preview, the tool, audit, the interaction row, the next request built).
``run_cell`` is compared with executing the same code directly on the same kernel (one persistent
jupyter_client client: execute, wait for idle), half before the turn and half after.
Goals: ``edit_cell`` / ``insert_cell`` median <= 50 ms; ``run_cell`` median <= 30 ms over direct.

Success rate: 6 tasks with checkers (2 with ``--quick``), each in a fresh notebook and kernel, mode
``auto``, at most 8 steps and 120 s. ``--model`` (repeatable): ``scripted`` (the stand-in solving
every task: proves the checkers pass), ``local`` (the bundled model through the shipped routing's
``agent`` chain, its local steps only), or an OpenAI-compatible base URL (``--endpoint-model``, key
from ``$NEXUS_BENCH_API_KEY``). A scripted model that fails a task exits 1: the harness is broken.

    python bench/agent.py [--repeats 20] [--model scripted --model local] [--quick]
    python bench/agent.py --repeats 0 --model http://127.0.0.1:8000/v1 --endpoint-model qwen2.5-7b
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import statistics
import sys
import tempfile
import time
from contextlib import aclosing
from itertools import pairwise
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import nbformat
from agent_tasks import TASKS, AgentTask, call, inserted, steps_script

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the scripted model is a test support module
from tests.support.scripted_models import ScriptedModelServer, scripted_routing  # noqa: E402

GOAL_EDIT_MS = 50.0
GOAL_RUN_OVERHEAD_MS = 30.0
TASK_STEPS, TASK_SECONDS = 8, 120.0


# -- the server's services, without its HTTP front ---------------------------------------------------
async def open_server(root: Path) -> Any:
    from jupyter_server.services.contents.filemanager import AsyncFileContentsManager
    from jupyter_server.services.kernels.kernelmanager import AsyncMappingKernelManager
    from jupyter_server.services.sessions.sessionmanager import SessionManager

    contents = AsyncFileContentsManager(root_dir=str(root))
    kernels = AsyncMappingKernelManager(root_dir=str(root))
    sessions = SessionManager(kernel_manager=kernels, contents_manager=contents)
    return SimpleNamespace(
        root_dir=str(root),
        contents_manager=contents,
        kernel_manager=kernels,
        session_manager=sessions,
        web_app=SimpleNamespace(settings={}),
    )


def write_notebook(root: Path, name: str, cells: list[Any]) -> None:
    notebook = nbformat.v4.new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, root / name)


async def open_kernel(server: Any, name: str) -> tuple[str, str]:
    """A session for the notebook, as JupyterLab opens one: (session id, kernel id)."""
    session = await server.session_manager.create_session(
        path=name, name=name, type="notebook", kernel_name="python3"
    )
    return str(session["id"]), str(session["kernel"]["id"])


class Probe:
    """One persistent client on a kernel: the direct execution baseline, and the checkers' questions."""

    def __init__(self, server: Any, kernel_id: str) -> None:
        from jupyter_client.session import Session

        km = server.kernel_manager.get_kernel(kernel_id)
        session = Session(key=km.session.key, signature_scheme=km.session.signature_scheme, username="bench")
        self.client = km.client(session=session)

    async def __aenter__(self) -> Probe:
        self.client.start_channels()
        await self.client.wait_for_ready(timeout=60)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.client.stop_channels()

    async def execute(self, code: str, expressions: dict[str, str] | None = None) -> dict[str, Any]:
        """Run ``code``; return the execute reply once the kernel is idle again."""
        silent = expressions is not None
        msg_id = self.client.execute(
            code, silent=silent, store_history=not silent, user_expressions=expressions, allow_stdin=False
        )
        while True:
            msg = await self.client.get_iopub_msg(timeout=60)
            mine = msg["parent_header"].get("msg_id") == msg_id
            if mine and msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                break
        while True:
            reply = await self.client.get_shell_msg(timeout=60)
            if reply["parent_header"].get("msg_id") == msg_id:
                return dict(reply["content"])

    async def timed(self, code: str) -> float:
        started = time.perf_counter()
        reply = await self.execute(code)
        assert reply["status"] == "ok", reply
        return time.perf_counter() - started

    async def true(self, expression: str) -> bool:
        """Whether ``expression`` is ``True`` in the kernel (False when it raises)."""
        value = (await self.execute("", {"v": expression}))["user_expressions"]["v"]
        return value.get("status") == "ok" and value["data"].get("text/plain") == "True"


# -- NEXUS's services, timed -------------------------------------------------------------------------
class TimedRouter:
    """The router, with the span of every model call kept (what the model and its HTTP took)."""

    def __init__(self, router: Any) -> None:
        self.router = router
        self.calls: list[tuple[float, float]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.router, name)

    async def stream(self, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            async with aclosing(self.router.stream(*args, **kwargs)) as events:
                async for event in events:
                    yield event
        finally:
            self.calls.append((started, time.perf_counter()))


def timed_tools(spans: list[tuple[str, float]]) -> Any:
    """The built-in tools, each handler's own time kept as (tool, seconds)."""
    from nexus_server_ext.agent.notebook_tools import notebook_tools
    from nexus_server_ext.agent.tools import ToolRegistry

    def timed(tool: Any) -> Any:
        async def handler(context: Any, arguments: dict[str, Any]) -> Any:
            started = time.perf_counter()
            try:
                return await tool.handler(context, arguments)
            finally:
                spans.append((tool.name, time.perf_counter() - started))

        return dataclasses.replace(tool, handler=handler)

    return ToolRegistry([timed(t) for t in notebook_tools()])


def agent_service(server: Any, router: Any, database: Any, tools: Any, steps: int) -> Any:
    from nexus_server_ext.agent.service import AgentService, ignore
    from nexus_server_ext.ai.interactions import DatabaseInteractions
    from nexus_server_ext.security.audit import AuditLog

    return AgentService(
        serverapp=server,
        router=router,
        announce=ignore,
        audit=AuditLog(database),
        interactions=DatabaseInteractions(database),
        tools=tools,
        max_steps=steps,
        max_seconds=TASK_SECONDS,
        run_timeout_s=60.0,
        allow_auto=True,
    )


async def finish(run: Any) -> Any:
    assert run.task is not None
    try:
        await asyncio.wait_for(asyncio.shield(run.task), TASK_SECONDS + 60)
    except TimeoutError:
        await run.stop("the benchmark")
    return run


def stats(seconds: list[float]) -> dict[str, float]:
    ms = sorted(s * 1000 for s in seconds)
    return {"median_ms": round(statistics.median(ms), 1), "p95_ms": round(ms[int(0.95 * (len(ms) - 1))], 1)}


# -- 1. overhead -------------------------------------------------------------------------------------
def run_code(i: int) -> str:
    return f"values = [n * n for n in range({i + 1} * 100)]\nprint(len(values), sum(values))"


async def overhead(
    server: Any, root: Path, database: Any, model: ScriptedModelServer, n: int
) -> dict[str, Any]:
    from nexus_server_ext.ai.router import ModelRouter

    cells = []
    for i in range(10):
        cell = nbformat.v4.new_code_cell(f"# step {i}\nresult_{i} = [n ** 2 for n in range({i} * 10)]")
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=f"{i * 10}\n")]
        cells.append(cell)
    write_notebook(root, "overhead.ipynb", cells)
    router = TimedRouter(ModelRouter(model_routing("scripted", root, model)))
    spans: list[tuple[str, float]] = []
    service = agent_service(server, router, database, timed_tools(spans), 3 * n + 1)
    turns: list[Any] = []
    for i in range(n):
        turns += [
            call("insert_cell", source=f"# cell {i}"),
            lambda m, i=i: call("edit_cell", cell_id=inserted(m), source=run_code(i)),
            lambda m: call("run_cell", cell_id=inserted(m)),
        ]
    model.script = steps_script(*turns, {"text": "Done."})
    _, kernel_id = await open_kernel(server, "overhead.ipynb")
    async with Probe(server, kernel_id) as probe:
        await probe.timed("1")  # warm-up
        direct = [await probe.timed(run_code(i)) for i in range(n // 2)]
        started = time.perf_counter()
        run = await finish(
            await service.start(
                owner="bench",
                display_name="",
                path="overhead.ipynb",
                goal="Insert, edit and run cells.",
                mode="auto",
            )
        )
        wall = time.perf_counter() - started
        direct += [await probe.timed(run_code(i)) for i in range(n // 2, n)]
    assert run.state == "done" and len(run.steps) == 3 * n, (run.state, run.reason, len(run.steps))
    assert len(router.calls) == len(run.steps) + 1
    gaps: dict[str, list[float]] = {"insert_cell": [], "edit_cell": [], "run_cell": []}
    for step, (answered, asked) in zip(run.steps, pairwise(router.calls), strict=True):
        gaps[step.tool].append(asked[0] - answered[1])  # from the model's call to the next request
    model_s = sum(end - start for start, end in router.calls)
    out: dict[str, Any] = {
        "notebook_cells": f"10 -> {10 + n}",
        "via": run.notebook.via,
        "repeats": n,
    }
    for tool, seconds in gaps.items():
        out[tool] = {
            **stats(seconds),
            "tool_handler_median_ms": stats([s for t, s in spans if t == tool])["median_ms"],
        }
    runs = [g - d for g, d in zip(gaps["run_cell"], direct, strict=True)]
    out["run_cell"].update(
        direct=stats(direct),
        overhead_median_ms=round((statistics.median(gaps["run_cell"]) - statistics.median(direct)) * 1000, 1),
        overhead_paired_median_ms=round(statistics.median(runs) * 1000, 1),
        first_run_ms=round(gaps["run_cell"][0] * 1000, 1),
    )
    out["turn"] = {
        "steps": len(run.steps),
        "wall_s": round(wall, 3),
        "model_s": round(model_s, 3),
        "model_call_median_ms": stats([end - start for start, end in router.calls])["median_ms"],
        "overhead_per_step_ms": round((wall - model_s) / len(run.steps) * 1000, 1),
    }
    return out


# -- 2. success rate ---------------------------------------------------------------------------------


async def prepare(server: Any, root: Path, task: AgentTask) -> tuple[str, str, str]:
    """The task's notebook, its cells run in a fresh kernel with their outputs saved: (path, session,
    kernel)."""
    from nexus_server_ext.agent.kernel import NotebookKernel

    name = f"task-{task.id}.ipynb"
    cells = [nbformat.v4.new_code_cell(s, id=f"cell-{i}") for i, s in enumerate(task.cells)]
    write_notebook(root, name, cells)
    session_id, kernel_id = await open_kernel(server, name)
    kernel = NotebookKernel(server.kernel_manager, kernel_id)
    for cell in cells:
        execution = await kernel.execute(cell.source)
        cell.outputs = [nbformat.from_dict(o) for o in execution.outputs]
        cell.execution_count = execution.execution_count
    write_notebook(root, name, cells)
    return name, session_id, kernel_id


def model_routing(label: str, root: Path, model: ScriptedModelServer, endpoint_model: str = "") -> Any:
    """The routing a ``--model`` names: the scripted stand-in, the shipped chain's local steps, or an
    OpenAI-compatible endpoint."""
    import yaml

    from nexus_server_ext.ai.routing import default_routing_file, load_routing, parse_routing

    if label == "scripted":
        path = root / "scripted.yaml"
        path.write_text(scripted_routing(model, max_tokens=1024, timeout_s=int(TASK_SECONDS)))
        return load_routing(path)
    if label == "local":  # whatever keys this shell holds, only the bundled model answers
        raw = yaml.safe_load(default_routing_file().read_text())
        local = {name for name, spec in raw["providers"].items() if spec.get("kind") == "local"}
        agent = raw["tasks"]["agent"]
        agent["chain"] = [step for step in agent["chain"] if step["provider"] in local]
        return parse_routing(raw, default_routing_file())
    key = os.environ.get("NEXUS_BENCH_API_KEY") or "none"
    lines = [
        "providers:",
        f"  endpoint: {{kind: openai, base_url: {json.dumps(label)}, api_key: {json.dumps(key)}}}",
        "tasks:",
        "  agent:",
        f"    chain: [{{provider: endpoint, model: {json.dumps(endpoint_model)}}}]",
        f"    limits: {{timeout_s: {int(TASK_SECONDS)}, max_tokens: 1024}}",
    ]
    path = root / "endpoint.yaml"
    path.write_text("\n".join(lines) + "\n")
    return load_routing(path)


async def success(
    server: Any,
    root: Path,
    database: Any,
    model: ScriptedModelServer,
    label: str,
    tasks: list[AgentTask],
    endpoint_model: str = "",
) -> dict[str, Any]:
    from nexus_server_ext.agent.notebook_tools import notebook_tools
    from nexus_server_ext.ai.router import ModelRouter

    routing = model_routing(label, root, model, endpoint_model)
    router = ModelRouter(routing)
    chain = [f"{s.provider}/{s.model}" for s in routing.chain("agent")]
    loaded = time.perf_counter()
    for step in router.usable_chain("agent"):
        await router.providers[step.provider].prepare()  # a model's load is not a task's time
    load_s = time.perf_counter() - loaded
    service = agent_service(server, router, database, notebook_tools(), TASK_STEPS)
    results = []
    for task in tasks:
        model.script = task.solution
        path, session_id, kernel_id = await prepare(server, root, task)
        run = await finish(
            await service.start(owner="bench", display_name="", path=path, goal=task.goal, mode="auto")
        )
        cells = [dict(c) for c in nbformat.read(root / path, as_version=4).cells]
        async with Probe(server, kernel_id) as probe:
            why = await task.check(probe, cells)
        await server.session_manager.delete_session(session_id)
        row: dict[str, Any] = {
            "id": task.id,
            "success": why is None,
            "steps": len(run.steps),
            "tools": [s.tool for s in run.steps],
            "seconds": round(run.seconds(), 2),
            "state": run.state,
        }
        if why is not None:
            row["reason"] = why + (f" (the turn: {run.reason})" if run.reason else "")
            row["answer"] = run.message.strip()[-300:]  # the model's own words, for a reader to judge
        results.append(row)
    passed = sum(r["success"] for r in results)
    return {
        "model": label,
        "chain": chain,
        "load_s": round(load_s, 2),
        "passed": f"{passed}/{len(results)}",
        "success_rate": round(passed / len(results), 3),
        "tasks": results,
    }


async def main(args: argparse.Namespace) -> dict[str, Any]:
    from nexus_server_ext.agent.run import drain_audits
    from nexus_server_ext.store.database import Database

    tasks = TASKS[:2] if args.quick else TASKS
    saved = {k: os.environ.get(k) for k in ("JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR")}
    with tempfile.TemporaryDirectory() as tmp, ScriptedModelServer([{"text": "Done."}]) as model:
        # Notebook signatures and kernel connection files in the run's own folder, not the user's.
        os.environ.update(JUPYTER_DATA_DIR=str(Path(tmp, "data")), JUPYTER_RUNTIME_DIR=str(Path(tmp, "rt")))
        root = Path(tmp, "root")
        root.mkdir()
        database = Database(f"sqlite:///{Path(tmp, 'nexus.db')}")
        database.migrate()
        server = await open_server(root)
        result: dict[str, Any] = {"benchmark": "agent", "cores": os.cpu_count()}
        load_before = os.getloadavg()[0]
        try:
            if args.repeats:
                measured = await overhead(server, root, database, model, args.repeats)
                result["overhead"] = measured
                result["goals"] = {
                    "edit_cell_median<=50ms": measured["edit_cell"]["median_ms"] <= GOAL_EDIT_MS,
                    "insert_cell_median<=50ms": measured["insert_cell"]["median_ms"] <= GOAL_EDIT_MS,
                    "run_cell_overhead_median<=30ms": measured["run_cell"]["overhead_median_ms"]
                    <= GOAL_RUN_OVERHEAD_MS,
                }
            result["tasks"] = [t.id for t in tasks]
            result["limits"] = {"max_steps": TASK_STEPS, "max_seconds": TASK_SECONDS}
            result["models"] = [
                await success(server, root, database, model, label, tasks, args.endpoint_model)
                for label in args.model
            ]
            result["load_average_1m"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
        finally:
            await drain_audits()
            await server.kernel_manager.shutdown_all()
            database.dispose()
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=20, help="insert/edit/run rounds timed (0: skip)")
    parser.add_argument(
        "--model",
        action="append",
        help="scripted, local, or an OpenAI-compatible base URL (default: scripted and local)",
    )
    parser.add_argument("--endpoint-model", default="default", help="the model name an endpoint is asked for")
    parser.add_argument("--quick", action="store_true", help=f"only the first 2 of the {len(TASKS)} tasks")
    arguments = parser.parse_args()
    arguments.model = arguments.model or ["scripted", "local"]
    report = asyncio.run(main(arguments))
    print(json.dumps(report, indent=2))
    scripted = [m for m in report["models"] if m["model"] == "scripted"]
    sys.exit(1 if any(m["success_rate"] < 1 for m in scripted) else 0)
