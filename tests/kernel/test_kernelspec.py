"""The "Python 3 (NEXUS)" kernel spec installs, and its kernels start with the magics loaded."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager

from nexus_server_ext import __version__


def run_cell(client: Any, code: str) -> tuple[list[str], Any]:
    msg_id = client.execute(code)
    streams: list[str] = []
    result = None
    while True:
        msg = client.get_iopub_msg(timeout=60)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        kind, content = msg["msg_type"], msg["content"]
        if kind == "stream":
            streams.append(content["text"])
        elif kind == "execute_result":
            result = content["data"]["text/plain"]
        elif kind == "error":
            streams.append("\n".join(content["traceback"]))
        elif kind == "status" and content["execution_state"] == "idle":
            return streams, result


def test_install_command_and_kernel_with_magics(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "nexus_kernel", "install", "--prefix", str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "Python 3 (NEXUS)" in out.stdout
    kernels = tmp_path / "share" / "jupyter" / "kernels"
    spec = json.loads((kernels / "nexus-python3" / "kernel.json").read_text())
    assert spec["display_name"] == "Python 3 (NEXUS)" and "--ext=nexus_kernel" in spec["argv"]
    resources = KernelSpecManager(kernel_dirs=[str(kernels)]).get_kernel_spec("nexus-python3").resource_dir
    logos = sorted(p.name for p in Path(resources).iterdir() if p.name.startswith("logo-"))
    assert logos == ["logo-32x32.png", "logo-64x64.png", "logo-svg.svg"]  # the launcher shows NEXUS's logo
    assert (Path(resources) / "logo-64x64.png").read_bytes().startswith(b"\x89PNG")

    ksm = KernelSpecManager(kernel_dirs=[str(kernels)])
    km = KernelManager(kernel_name="nexus-python3", kernel_spec_manager=ksm)
    km.start_kernel()
    kc = km.client()
    kc.start_channels()
    kc.wait_for_ready(timeout=60)
    try:
        streams, result = run_cell(kc, "%nexus version")
        assert result == repr(__version__), streams
        streams, _ = run_cell(kc, "%nexus teleport")
        assert streams == ["nexus: unknown subcommand 'teleport'; try %nexus help\n"]
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
