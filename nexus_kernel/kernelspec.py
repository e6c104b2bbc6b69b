"""The "Python 3 (NEXUS)" kernel spec: ipykernel with the NEXUS magics loaded at start-up."""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

from jupyter_client.kernelspec import KernelSpecManager

KERNEL_NAME = "nexus-python3"
DISPLAY_NAME = "Python 3 (NEXUS)"
RESOURCES = Path(__file__).resolve().parent / "resources"


def kernel_json(python: str | None = None) -> dict[str, object]:
    return {
        "argv": [
            python or sys.executable,
            "-m",
            "ipykernel_launcher",
            "-f",
            "{connection_file}",
            "--ext=nexus_kernel",
        ],
        "display_name": DISPLAY_NAME,
        "language": "python",
        "metadata": {"debugger": True, "nexus": True},
    }


def install(*, user: bool = False, prefix: str | None = None, python: str | None = None) -> str:
    """Install the spec (into ``sys.prefix`` unless ``user`` or ``prefix`` say otherwise).

    Returns the folder it was installed in."""
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "kernel.json").write_text(json.dumps(kernel_json(python), indent=2), encoding="utf-8")
        for logo in RESOURCES.iterdir():  # the launcher's and the notebook toolbar's NEXUS logo
            if logo.name.startswith("logo-"):
                shutil.copy(logo, tmp)
        if not user and prefix is None:
            prefix = sys.prefix
        return str(
            KernelSpecManager().install_kernel_spec(tmp, KERNEL_NAME, user=user, prefix=prefix, replace=True)
        )
