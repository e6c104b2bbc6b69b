"""Driving a real kernel over ZMQ and collecting what a notebook would show."""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class CellRun:
    stdout: str = ""
    stderr: str = ""
    outputs: list[dict[str, Any]] = field(default_factory=list)  # display_data / execute_result content
    updates: int = 0  # update_display_data messages (streaming)
    shown: list[str] = field(default_factory=list)  # the streamed display's text, as each message showed it
    first_shown: dict[str, Any] = field(default_factory=dict)  # the first display's data, as first shown
    errors: list[dict[str, Any]] = field(default_factory=list)
    payload: list[dict[str, Any]] = field(default_factory=list)
    status: str = ""

    def text(self) -> str:
        shown = [o["data"].get("text/markdown") or o["data"].get("text/plain", "") for o in self.outputs]
        return "\n".join([self.stdout, self.stderr, *shown])

    def nexus_meta(self) -> dict[str, Any]:
        metas = [o["metadata"]["nexus"] for o in self.outputs if "nexus" in o.get("metadata", {})]
        assert metas, f"no output carries NEXUS provenance: {self.outputs!r} {self.stderr!r}"
        return metas[-1]


def run_cell(client: Any, code: str, timeout: float = 240) -> CellRun:
    """Execute ``code`` and gather every iopub message of it, then its execute_reply."""
    msg_id = client.execute(code)
    run = CellRun()
    by_display: dict[str, dict[str, Any]] = {}
    while True:
        msg = client.get_iopub_msg(timeout=timeout)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        kind, content = msg["msg_type"], msg["content"]
        if kind == "stream":
            if content["name"] == "stdout":
                run.stdout += content["text"]
            else:
                run.stderr += content["text"]
        elif kind in ("display_data", "execute_result"):
            display_id = content.get("transient", {}).get("display_id")
            run.outputs.append(content)
            if not run.first_shown:
                run.first_shown = dict(content["data"])
            run.shown.append(content["data"].get("text/plain", ""))
            if display_id:
                by_display[display_id] = content
        elif kind == "update_display_data":
            run.updates += 1
            run.shown.append(content["data"].get("text/plain", ""))
            target = by_display.get(content.get("transient", {}).get("display_id"))
            if target is not None:
                target["data"], target["metadata"] = content["data"], content["metadata"]
        elif kind == "error":
            run.errors.append(content)
        elif kind == "status" and content["execution_state"] == "idle":
            break
    reply = client.get_shell_msg(timeout=timeout)
    while reply["parent_header"].get("msg_id") != msg_id:
        reply = client.get_shell_msg(timeout=timeout)
    run.status = reply["content"]["status"]
    run.payload = reply["content"].get("payload", [])
    return run


def fast_routing_file(folder: Path, max_tokens: int = 128) -> Path:
    """The shipped routing with shorter answers (tests on two shared CPU cores stay quick) and a
    generous timeout (a busy CI machine must not turn a slow answer into a failure)."""
    routing = yaml.safe_load((ROOT / "models" / "routing.yaml").read_text())
    for task in routing["tasks"].values():
        task["limits"]["max_tokens"] = min(task["limits"]["max_tokens"], max_tokens)
        task["limits"]["timeout_s"] = 600
    path = folder / "routing.yaml"
    path.write_text(yaml.safe_dump(routing))
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
