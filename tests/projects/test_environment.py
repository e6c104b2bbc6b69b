"""A project with its own virtual environment (a real package from the registry) and a real kernel in it."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any


async def test_project_environment_task_installs_and_its_kernel_runs(
    jp_fetch: Any, jp_serverapp: Any, jp_root_dir: Path
) -> None:
    r = await jp_fetch(
        "nexus/api/v1/projects",
        method="POST",
        body=json.dumps({"name": "envproj", "venv": True, "dependencies": ["iniconfig"]}),
    )
    created = json.loads(r.body)
    task_id = created["task_id"]
    assert task_id

    for _ in range(600):  # the install talks to the package registry: allow up to a minute
        task = json.loads((await jp_fetch("nexus/api/v1/tasks", task_id)).body)
        if task["state"] not in ("pending", "running"):
            break
        await asyncio.sleep(0.1)
    assert task["state"] == "succeeded", task
    kernel_name = task["result"]["kernel_name"]
    assert task["result"]["installed"] == ["iniconfig"]

    project = json.loads((await jp_fetch("nexus/api/v1/projects", created["project"]["id"])).body)
    assert project["venv_path"] == "envproj/.venv" and project["kernel_name"] == kernel_name
    venv = jp_root_dir / "envproj" / ".venv"
    assert list(venv.glob("lib/python*/site-packages/iniconfig"))

    # Jupyter sees the kernel spec, and a kernel started from it runs in the project's environment.
    specs = json.loads((await jp_fetch("api/kernelspecs")).body)["kernelspecs"]
    assert specs[kernel_name]["spec"]["display_name"] == "Python (envproj)"
    # Started by the Jupyter server's own kernel manager, as the notebook UI would.
    kernels = jp_serverapp.kernel_manager
    kernel_id = await kernels.start_kernel(kernel_name=kernel_name)
    kc = kernels.get_kernel(kernel_id).client()
    kc.start_channels()
    await kc.wait_for_ready(timeout=60)
    try:
        outputs: list[str] = []

        def collect(msg: dict[str, Any]) -> None:
            if msg["msg_type"] == "stream":
                outputs.append(msg["content"]["text"])

        reply = await kc.execute_interactive(
            "import sys, iniconfig; print(sys.prefix); print(iniconfig.__file__)",
            output_hook=collect,
            timeout=60,
        )
        assert reply["content"]["status"] == "ok"
        prefix, module = "".join(outputs).split()
        assert Path(prefix).resolve() == venv.resolve()
        assert Path(module).resolve().is_relative_to(venv.resolve())
    finally:
        kc.stop_channels()
        await kernels.shutdown_kernel(kernel_id, now=True)
