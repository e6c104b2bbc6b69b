"""A project's own virtual environment and the kernel spec that runs notebooks in it.

The environment is made with ``python -m venv --without-pip`` (fast: no pip copy
per project); packages are installed by the server's pip targeting the new
interpreter (``pip --python``). So that the kernel starts without downloading
ipykernel into every environment, a ``.pth`` file makes the server's packages
importable *after* the project's own (``host_packages``); turn it off to keep the
environment sealed and list ``ipykernel`` among its dependencies instead.
"""

from __future__ import annotations

import asyncio
import json
import os
import site
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement

Progress = Callable[[float, str], Awaitable[None]]


class EnvironmentError_(RuntimeError):
    """Creating the environment or installing into it failed; the message says which step."""


def check_requirements(specs: list[str]) -> list[str]:
    """Plain requirement specifiers only (``six``, ``pandas>=2``): no URLs, paths or pip options."""
    out = []
    for spec in specs:
        spec = spec.strip()
        if not spec or spec.startswith("-"):
            raise ValueError(f"{spec!r} is not a package requirement")
        try:
            req = Requirement(spec)
        except InvalidRequirement:
            raise ValueError(f"{spec!r} is not a valid package requirement") from None
        if req.url:
            raise ValueError(f"{spec!r}: URLs are not allowed, name a package from the registry")
        out.append(str(req))
    return out


def venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")


def sealed_env() -> dict[str, str]:
    """The server's environment minus what would leak its packages into the project's interpreter."""
    return {
        k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "PIP_TARGET", "PIP_USER")
    }


async def _run(step: str, *cmd: str) -> None:
    proc = await asyncio.create_subprocess_exec(
        *cmd,
        env=sealed_env(),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        stdin=asyncio.subprocess.DEVNULL,
    )
    try:
        out, _ = await proc.communicate()
    except asyncio.CancelledError:
        proc.kill()
        await proc.wait()
        raise
    if proc.returncode != 0:
        tail = out.decode("utf-8", "replace").strip().splitlines()[-5:]
        raise EnvironmentError_(f"{step} failed: {' | '.join(tail)}")


def _site_packages(python: Path) -> Path:
    libs = sorted((python.parent.parent / "lib").glob("python*/site-packages"))
    if not libs:
        raise EnvironmentError_("the new environment has no site-packages folder")
    return libs[0]


async def create_environment(
    venv: Path, requirements: list[str], progress: Progress, *, host_packages: bool = True
) -> Path:
    """Create ``venv``, install ``requirements`` into it; returns its interpreter."""
    await progress(0.05, "creating the virtual environment")
    await _run("python -m venv", sys.executable, "-m", "venv", "--without-pip", str(venv))
    python = venv_python(venv)
    if requirements:
        await progress(0.3, f"installing {', '.join(requirements)}")
        await _run(
            "pip install",
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--disable-pip-version-check",
            "--no-input",
            "--quiet",
            *requirements,
        )
    if host_packages:
        # Written after the install, so pip installs what the project asked for even when the
        # server happens to have it; at run time the project's own packages still come first.
        host = [p for p in [*site.getsitepackages(), site.getusersitepackages()] if Path(p).is_dir()]
        (_site_packages(python) / "zz_nexus_host.pth").write_text("\n".join(host) + "\n")
    await progress(0.9, "environment ready")
    return python


def write_kernel_spec(kernel_dir: Path, python: Path, display_name: str, cwd: Path) -> None:
    """A Jupyter kernel spec running ipykernel with the project's interpreter."""
    kernel_dir.mkdir(parents=True, exist_ok=True)
    spec = {
        "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": display_name,
        "language": "python",
        # The server's PYTHONPATH would put its packages before the project's own.
        "env": {"PYTHONPATH": ""},
        "metadata": {"nexus": {"project_dir": str(cwd)}, "debugger": True},
    }
    (kernel_dir / "kernel.json").write_text(json.dumps(spec, indent=1))
