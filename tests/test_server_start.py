"""A real ``jupyter server`` with NEXUS starts light, and the first client starts the model loading.

Each test runs the server as a subprocess (as a user does), reads what it has loaded from
``/proc/<pid>/maps`` (shared libraries) and from ``sys.modules`` (written to a file on SIGUSR2 by
a hook in the server's own config file), and talks to it over HTTP with its token.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from support.processes import stop

from nexus_server_ext.store.database import Database

TOKEN = "nexus-start-test-token"
T = TypeVar("T")

# Shared objects a light start must not map: the engines, the vector store, the ORM's C extensions.
HEAVY_LIBRARIES = (
    "libtorch",
    "libllama",
    "llama_cpp",
    "chromadb",
    "ctranslate2",
    "onnxruntime",
    "sqlalchemy",
)
# Modules a light start must not import (first use builds what needs them).
HEAVY_MODULES = (
    "torch",
    "transformers",
    "llama_cpp",
    "chromadb",
    "faster_whisper",
    "ctranslate2",
    "sqlalchemy",
    "alembic",
    "nexus_server_ext.store.models",
    "nexus_server_ext.chat.consciousness",
    "nexus_server_ext.ai.pipeline",
)
MODEL_LIBRARIES = ("libllama", "libtorch")  # llama.cpp for the bundled GGUF; transformers for others

CONFIG_HOOK = """
import json, signal, sys

def _dump_modules(*_):
    with open({path!r}, "w") as fh:
        json.dump(sorted(sys.modules), fh)

signal.signal(signal.SIGUSR2, _dump_modules)
"""


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    base: str
    modules_file: Path

    def get(self, path: str) -> tuple[int, Any]:
        request = urllib.request.Request(f"{self.base}{path}", headers={"Authorization": f"token {TOKEN}"})
        try:
            with urllib.request.urlopen(request, timeout=30) as reply:
                return reply.status, json.loads(reply.read() or b"null")
        except urllib.error.HTTPError as exc:
            return exc.code, None

    def maps(self) -> str:
        return Path(f"/proc/{self.proc.pid}/maps").read_text()

    def modules(self) -> set[str]:
        self.modules_file.unlink(missing_ok=True)
        self.proc.send_signal(signal.SIGUSR2)
        until(lambda: self.modules_file.exists() and self.modules_file.stat().st_size > 0, 30, "module dump")
        time.sleep(0.2)  # the handler writes in one go; let it finish
        return set(json.loads(self.modules_file.read_text()))

    def local_model(self) -> str:
        code, status = self.get("/nexus/api/v1/status")
        assert code == 200
        return str(next(c for c in status["components"] if c["name"] == "local_model")["detail"])


def until(check: Callable[[], T], timeout: float, what: str) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.2)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    procs: list[subprocess.Popen[bytes]] = []

    def start(**env: str) -> Server:
        config, root, runtime, data = (tmp_path / d for d in ("config", "root", "runtime", "data"))
        for path in (config, root, runtime, data):
            path.mkdir(exist_ok=True)
        # A user's second and later starts: the database exists (the first start migrates it).
        database = Database(f"sqlite:///{data / 'nexus' / 'nexus.db'}")
        database.migrate()
        database.dispose()
        modules_file = tmp_path / "modules.json"
        (config / "jupyter_server_config.py").write_text(CONFIG_HOOK.format(path=str(modules_file)))
        (config / "jupyter_server_config.json").write_text(
            json.dumps({"ServerApp": {"jpserver_extensions": {"nexus_server_ext": True}}})
        )
        environ = {
            **{k: v for k, v in os.environ.items() if not k.startswith("NEXUS_")},
            "JUPYTER_CONFIG_DIR": str(config),
            "JUPYTER_RUNTIME_DIR": str(runtime),
            "JUPYTER_DATA_DIR": str(data),
            **env,
        }
        port = free_port()
        command = [
            sys.executable,
            "-m",
            "jupyter_server",
            "--allow-root",
            "--no-browser",
            f"--port={port}",
            "--ServerApp.port_retries=0",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.root_dir={root}",
            f"--IdentityProvider.token={TOKEN}",
        ]
        log = open(tmp_path / "server.log", "wb")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(command, env=environ, stdout=log, stderr=subprocess.STDOUT)
        procs.append(proc)
        server = Server(proc, f"http://127.0.0.1:{port}", modules_file)

        def answers() -> bool:
            assert proc.poll() is None, (tmp_path / "server.log").read_text()
            try:
                return server.get("/api/status")[0] == 200
            except OSError:
                return False

        until(answers, 120, "the server to answer /api/status")
        return server

    yield start
    for proc in procs:
        stop(proc)


def loaded_heavy_libraries(maps: str) -> list[str]:
    return sorted({lib for lib in HEAVY_LIBRARIES if lib in maps})


def test_a_ready_server_is_light_and_the_first_client_loads_the_model(
    start_server: Callable[..., Server],
) -> None:
    server = start_server()
    time.sleep(1)  # nothing starts in the background on its own either
    assert loaded_heavy_libraries(server.maps()) == []
    assert sorted(set(HEAVY_MODULES) & server.modules()) == []

    # The first client (the JupyterLab page asks for the status) starts the background load at once.
    first = server.local_model()
    assert first.startswith(("loading", "loaded")), first
    detail = until(
        lambda: (d := server.local_model()).startswith(("loaded", "failed")) and d, 180, "the model to load"
    )
    assert detail.startswith("loaded on "), detail  # with no generation request at all
    assert [lib for lib in MODEL_LIBRARIES if lib in server.maps()], "the model's library is not mapped"
    # The stores, the core and the intent embedder are readied in the background too, so the first
    # question waits for none of them; the vector memory of a fresh data dir holds nothing, so the first
    # question needs no chromadb at all (it is opened when something is learned).
    until(lambda: "nexus_server_ext.chat.consciousness" in server.modules(), 120, "the deferred services")
    until(lambda: "onnxruntime" in server.maps(), 120, "the intent embedder")
    until(
        lambda: "nexus_server_ext.memory.vector_memory" in server.modules(),
        120,
        "the vector memory's warm-up",
    )
    assert "chromadb" not in server.modules()
    # Ready, with the model and the embedder loaded: no torch, transformers or CTranslate2 in the server
    # (the embedder runs on onnxruntime; faster-whisper loads with the first voice request).
    modules = server.modules()
    assert sorted({"torch", "transformers", "faster_whisper", "ctranslate2"} & modules) == []
    assert [lib for lib in ("libtorch", "ctranslate2") if lib in server.maps()] == []


def test_preload_never_leaves_the_model_to_the_first_request(start_server: Callable[..., Server]) -> None:
    server = start_server(NEXUS_PRELOAD_MODEL="0")
    assert server.local_model().startswith("not loaded")
    time.sleep(2)
    assert server.local_model().startswith("not loaded")
    assert not [lib for lib in MODEL_LIBRARIES if lib in server.maps()]


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (None, "first-client"),
        ("1", "start"),
        ("true", "start"),
        ("0", "never"),
        ("first-client", "first-client"),
    ],
)
def test_preload_setting_and_its_environment_variable(
    env: str | None, expected: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nexus_server_ext.app import NexusApp

    if env is None:
        monkeypatch.delenv("NEXUS_PRELOAD_MODEL", raising=False)
    else:
        monkeypatch.setenv("NEXUS_PRELOAD_MODEL", env)
    assert NexusApp().preload_local_model == expected


def test_an_unknown_preload_setting_is_refused() -> None:
    from traitlets import TraitError

    from nexus_server_ext.app import NexusApp

    with pytest.raises(TraitError, match="start, first-client or never"):
        NexusApp(preload_local_model="sometimes")
