"""The agent benchmark's task set: goals a notebook agent should reach, each with a checker that looks
at the notebook and the kernel afterwards, and a scripted model's way of reaching it (which proves the
checker passes when a model does the task right)."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agent import Probe

# A checker: None when the task was reached, else what is wrong (the notebook's cells, and a probe
# that evaluates expressions in the notebook's kernel).
Check = Callable[["Probe", list[dict[str, Any]]], Awaitable[str | None]]
INSERTED = re.compile(r"Inserted \w+ cell (\S+) at index")


def steps_script(*turns: Any) -> Callable[[list[dict[str, Any]]], dict[str, Any]]:
    """Answer request N with ``turns[N]`` (a turn, or a function of the conversation so far)."""

    def script(messages: list[dict[str, Any]]) -> dict[str, Any]:
        turn = turns[min(sum(m["role"] == "assistant" for m in messages), len(turns) - 1)]
        return turn(messages) if callable(turn) else turn

    return script


def call(name: str, **arguments: Any) -> dict[str, Any]:
    return {"tool_calls": [{"name": name, "arguments": arguments}]}


def inserted(messages: list[dict[str, Any]]) -> str:
    """The id of the cell the agent inserted last, from the tool results the model was given."""
    found = [INSERTED.search(m["content"]) for m in messages if m["role"] == "tool"]
    return next(f.group(1) for f in reversed(found) if f)


@dataclasses.dataclass(frozen=True)
class AgentTask:
    """A goal, the notebook before it (code cells, run in order first), a checker (None: reached, else
    why not) and the scripted model's way of reaching it."""

    id: str
    goal: str
    cells: tuple[str, ...]
    check: Check
    solution: Callable[[list[dict[str, Any]]], dict[str, Any]]


def expects(expression: str = "True", shows: str | None = None) -> Check:
    """A checker: ``expression`` is True in the kernel, and some code cell's outputs hold ``shows``."""

    async def check(probe: Probe, cells: list[dict[str, Any]]) -> str | None:
        if not await probe.true(expression):
            return f"the kernel does not have {expression}"
        code = [c for c in cells if c["cell_type"] == "code"]
        outputs = [
            str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", ""))
            for c in code
            for o in c["outputs"]
        ]
        if shows is not None and not any(shows in text.lower() for text in outputs):
            return f"no cell shows {shows!r} in its outputs"
        return None

    return check


async def has_heading(probe: Probe, cells: list[dict[str, Any]]) -> str | None:
    if any(
        c["cell_type"] == "markdown" and c["source"].lstrip().lower().startswith("# results") for c in cells
    ):
        return None
    return "no markdown cell starts with '# Results'"


async def runs_clean(probe: Probe, cells: list[dict[str, Any]]) -> str | None:
    for index, cell in enumerate(c for c in cells if c["cell_type"] == "code"):
        reply = await probe.execute(cell["source"])
        if reply["status"] != "ok":
            return f"code cell #{index} raises {reply.get('ename')}"
    return await expects("total == sum(numbers)")(probe, cells)


def insert_and_run(source: str) -> Callable[[list[dict[str, Any]]], dict[str, Any]]:
    run = lambda m: call("run_cell", cell_id=inserted(m))  # noqa: E731
    return steps_script(call("insert_cell", source=source), run, {"text": "Done."})


BUGGY = "total = sum(number)\nprint(total)"
FIXED = "total = sum(numbers)\nprint(total)"
TASKS = [
    AgentTask(
        "variable",
        "Create a variable named x that holds 42, and run the cell so the kernel has it.",
        (),
        expects("x == 42"),
        insert_and_run("x = 42"),
    ),
    AgentTask(
        "fix_name_error",
        "The second cell raises a NameError. Fix it so that the notebook runs without errors.",
        ("numbers = [4, 8, 15]", BUGGY),
        runs_clean,
        steps_script(
            call("read_notebook"),
            call("edit_cell", cell_id="cell-1", source=FIXED),
            call("run_cell", cell_id="cell-1"),
            {"text": "Fixed the typo."},
        ),
    ),
    AgentTask(
        "markdown_title",
        "Add a markdown cell titled Results (a level-one heading) at the end of the notebook.",
        ("data = [3, 1, 2]\nprint(sorted(data))",),
        has_heading,
        steps_script(call("insert_cell", source="# Results", cell_type="markdown"), {"text": "Added."}),
    ),
    AgentTask(
        "function",
        "Define a function square(n) that returns n squared, then call it on 7 in a cell and run it.",
        (),
        expects("square(7) == 49", shows="49"),
        insert_and_run("def square(n):\n    return n * n\n\n\nsquare(7)"),
    ),
    AgentTask(
        "mean",
        "Make a list named data with the numbers 1 to 10, and store their mean in a variable named avg.",
        (),
        expects("list(data) == list(range(1, 11)) and avg == 5.5"),
        insert_and_run("data = list(range(1, 11))\navg = sum(data) / len(data)"),
    ),
    AgentTask(
        "hello",
        "Add a code cell that prints hello world, and run it.",
        (),
        expects(shows="hello world"),
        insert_and_run('print("hello world")'),
    ),
]
