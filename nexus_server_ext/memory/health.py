"""The ``vector_memory`` component of ``/status``: can the store that holds the memory be reached?

Once the memory exists this live check replaces the install probe. A Chroma server (a team's
shared memory) is asked for its heartbeat, with a short timeout so ``/status`` stays quick while
it is down; the embedded store needs a folder it can write. Each check also sets
``nexus_storage_healthy{store="vector_memory"}``, which the ``NexusStorageUnhealthy`` alert watches.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import httpx

from ..api_models import ComponentStatus
from ..components import OPTIONAL_COMPONENTS
from ..metrics import record_storage_health

# Chroma 1.x answers v2; older servers only v1.
HEARTBEATS = ("/api/v2/heartbeat", "/api/v1/heartbeat")


def chroma_heartbeat(base_url: str, timeout_s: float = 2.0) -> str | None:
    """None when the Chroma server at ``base_url`` answers its heartbeat, else why not."""
    try:
        with httpx.Client(timeout=timeout_s) as client:
            for path in HEARTBEATS:
                reply = client.get(base_url.rstrip("/") + path)
                if reply.status_code == 404:
                    continue
                return None if reply.status_code == 200 else f"HTTP {reply.status_code}"
    except httpx.HTTPError as exc:
        return type(exc).__name__
    return "no heartbeat endpoint"


def _writable(path: Path) -> bool:
    """Can the embedded store write in ``path``? (A real write: permission bits say nothing to root.)"""
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            return True
    except OSError:
        return False


def vector_memory_status(memory: Any, timeout_s: float = 2.0) -> ComponentStatus:
    """The live health of ``memory`` (a ``VectorMemory``), as ``/status`` shows it."""
    installed = next(c for c in OPTIONAL_COMPONENTS if c.name == "vector_memory").probe()
    if installed.state != "ok":  # chromadb is not installed: a setup matter, not an outage
        return installed
    host = getattr(memory, "chroma_host", "")
    if host:
        where = f"the Chroma server {host}:{memory.chroma_port}"
        scheme = "https" if memory.chroma_ssl else "http"
        problem = chroma_heartbeat(f"{scheme}://{host}:{memory.chroma_port}", timeout_s)
    else:
        where = "the embedded chromadb"
        path = getattr(memory, "path", None)
        problem = None if path is None or _writable(Path(path)) else "its folder is not writable"
    record_storage_health("vector_memory", problem is None)
    if problem is None:
        return ComponentStatus(name="vector_memory", state="ok", detail=f"Vector memory: {where} answers.")
    return ComponentStatus(
        name="vector_memory",
        state="degraded",
        detail=f"Vector memory: {where} does not answer ({problem}); "
        "searching and learning fail until it does.",
    )
