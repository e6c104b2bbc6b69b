"""The vector memory's live health check: a real Chroma server answering, then stopped; an embedded
store whose folder can or cannot be written. Each check also sets the gauge the storage alert reads."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from support.processes import stop

from nexus_server_ext.memory.health import chroma_heartbeat, vector_memory_status
from nexus_server_ext.memory.vector_memory import VectorMemory


def gauge() -> float | None:
    return REGISTRY.get_sample_value("nexus_storage_healthy", {"store": "vector_memory"})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_chroma_server_is_healthy_while_it_answers_its_heartbeat(tmp_path: Path) -> None:
    port = free_port()
    chroma_bin = shutil.which("chroma", path=str(Path(sys.executable).parent)) or "chroma"
    log = tmp_path / "chroma.log"
    proc = subprocess.Popen(
        [chroma_bin, "run", "--path", str(tmp_path / "chroma"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    memory = VectorMemory(chroma_host="127.0.0.1", chroma_port=port)
    try:
        deadline = time.monotonic() + 120
        while chroma_heartbeat(f"http://127.0.0.1:{port}") is not None:
            assert proc.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.3)
        status = vector_memory_status(memory)
        assert status.state == "ok" and f"127.0.0.1:{port}" in status.detail, status
        assert gauge() == 1
    finally:
        stop(proc)
    status = vector_memory_status(memory, timeout_s=1)
    assert status.state == "degraded" and "does not answer (ConnectError)" in status.detail, status
    assert gauge() == 0


@pytest.mark.parametrize(("status", "problem"), [(404, "no heartbeat endpoint"), (500, "HTTP 500")])
def test_a_server_that_does_not_answer_the_heartbeat_is_unhealthy(status: int, problem: str) -> None:
    class Reply(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(status)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Reply)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        assert chroma_heartbeat(f"http://127.0.0.1:{port}", timeout_s=2) == problem
        memory = VectorMemory(chroma_host="127.0.0.1", chroma_port=port)
        assert vector_memory_status(memory).state == "degraded" and gauge() == 0
    finally:
        server.shutdown()
        server.server_close()


def test_the_embedded_store_needs_a_folder_it_can_write(tmp_path: Path) -> None:
    ok = vector_memory_status(VectorMemory(tmp_path / "memory"))
    assert ok.state == "ok" and "embedded" in ok.detail and gauge() == 1
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    bad = vector_memory_status(VectorMemory(blocked / "memory"))
    assert bad.state == "degraded" and "not writable" in bad.detail and gauge() == 0
