"""A real JupyterLab with NEXUS in a subprocess, and Debian's chromium driven by Playwright."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from support.processes import stop

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
ROUTING = Path(__file__).resolve().parents[2] / "models" / "routing.yaml"


@dataclass
class LabServer:
    url: str
    token: str
    root: Path
    data_dir: Path

    def lab_url(self, path: str = "lab") -> str:
        return f"{self.url}{path}?token={self.token}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_local_model(url: str, token: str, timeout: float = 600) -> None:
    """The bundled model loads in the background at start-up; tests time the answers, not the load."""
    deadline = time.monotonic() + timeout
    state = "unknown"
    while time.monotonic() < deadline:
        req = urllib.request.Request(url + "nexus/api/v1/models", headers={"Authorization": f"token {token}"})
        with urllib.request.urlopen(req, timeout=10) as reply:
            tasks = json.loads(reply.read())["tasks"]
        engines = [s["engine"] for t in tasks for s in t["chain"] if s.get("engine")]
        state = str(engines[0]["state"]) if engines else "none"
        if state in ("loaded", "none", "failed"):
            return
        time.sleep(1)
    raise RuntimeError(f"the local model did not load in {timeout:g} s (state {state})")


@contextlib.contextmanager
def running_lab(
    base: Path,
    extra_env: dict[str, str] | None = None,
    wait_for_model: bool = True,
    extra_args: tuple[str, ...] = (),
) -> Iterator[LabServer]:
    """JupyterLab with NEXUS in a subprocess under ``base`` (root, config and data folders inside).

    ``wait_for_model=False`` hands the lab over before anything has talked to NEXUS; ``extra_args``
    come last on the command line (so they override).
    """
    root, config, data = base / "root", base / "config", base / "nexus-data"
    for d in (root, config / "labconfig", data):
        d.mkdir(parents=True)
    # The news pop-up would cover the page in screenshots.
    (config / "labconfig" / "page_config.json").write_text(
        json.dumps({"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}})
    )
    # The shipped routing, with time limits for CI machines whose few CPUs are shared.
    routing = base / "routing.yaml"
    shipped = ROUTING.read_text()
    routing.write_text(
        shipped.replace("timeout_s: 10,", "timeout_s: 300,").replace("timeout_s: 120,", "timeout_s: 300,")
    )
    port, token = free_port(), secrets.token_hex(16)
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(config),
        "NEXUS_DATA_DIR": str(data),
        "NEXUS_PRELOAD_MODEL": "1",
        **(extra_env or {}),
    }
    log = (base / "lab.log").open("w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyterlab",
            "--allow-root",
            "--no-browser",
            f"--port={port}",
            "--ip=127.0.0.1",
            f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={root}",
            # one routing file: traitlets refuses a scalar setting given twice on the command line
            *(
                ()
                if any(a.startswith("--NexusApp.routing_file=") for a in extra_args)
                else (f"--NexusApp.routing_file={routing}",)
            ),
            *extra_args,
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 60
    while True:
        try:
            req = urllib.request.Request(url + "api/status", headers={"Authorization": f"token {token}"})
            urllib.request.urlopen(req, timeout=2)
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(
                    "JupyterLab did not start:\n" + (base / "lab.log").read_text()[-3000:]
                ) from None
            time.sleep(0.3)
    try:
        if wait_for_model:
            wait_for_local_model(url, token)
        yield LabServer(url=url, token=token, root=root, data_dir=data)
    finally:
        stop(proc, 15)
        log.close()


@pytest.fixture(scope="session")
def lab_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    with running_lab(tmp_path_factory.mktemp("lab")) as lab:
        yield lab


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Module-scoped: Playwright's event loop keeps running while it is open, and the async
    tests of later modules would find it and fail to close it."""
    from playwright.sync_api import sync_playwright

    executable = shutil.which("chromium") or "/usr/bin/chromium"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        yield b
        b.close()


@pytest.fixture
def page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    pg = context.new_page()
    yield pg
    ARTIFACTS.mkdir(exist_ok=True)
    pg.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"))
    context.close()


@pytest.fixture(autouse=True)
def jp_asyncio_loop() -> Iterator[None]:
    """Browser tests use Playwright's own loop; pytest-jupyter's would pick it up and close it."""
    yield None


@pytest.fixture(autouse=True)
def jp_server_cleanup() -> Iterator[None]:
    """No in-process Jupyter server to clean up here: the lab runs in a subprocess."""
    yield None
