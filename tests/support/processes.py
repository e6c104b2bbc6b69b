"""Ending the server processes tests start."""

from __future__ import annotations

import subprocess


def stop(proc: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    """Ask ``proc`` to end (SIGTERM, as Ctrl-C would); kill it if it has not within ``timeout`` s."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
