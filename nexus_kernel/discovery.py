"""Which transport a kernel uses: the Jupyter server that started it (found from its runtime file), or
the model in-process. Its own module so that ``transport`` (the interface) and the transports
(``server_transport``, ``inprocess``) do not import each other.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from .transport import ServerInfo, Transport, TransportError


def _runtime_dirs() -> list[Path]:
    from jupyter_core.paths import jupyter_runtime_dir

    return [Path(jupyter_runtime_dir())]


def _ancestors(pid: int, depth: int = 1) -> list[int]:
    """The parent, and its parent (a kernel launched through a wrapper such as ``sh -c``).

    Linux reads ``/proc``; elsewhere only the direct parent is known. Going further up would mistake a
    Jupyter server that merely runs the terminal a script was started from for the kernel's server.
    """
    chain = [os.getppid()]
    for _ in range(depth):
        try:
            stat = Path(f"/proc/{chain[-1]}/stat").read_text()
            parent = int(stat.rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
        if parent <= 1:
            break
        chain.append(parent)
    return chain


def discover_server() -> ServerInfo | None:
    """The Jupyter server that started this kernel, or None.

    ``NEXUS_SERVER_URL`` (+ ``NEXUS_SERVER_TOKEN``) name one explicitly; otherwise the ``jpserver-<pid>.json``
    file of the nearest ancestor process is used. On JupyterHub the user's ``JUPYTERHUB_API_TOKEN`` is the
    credential (the single-user server's file holds no token there).
    """
    hub_token = os.environ.get("JUPYTERHUB_API_TOKEN", "")
    if os.environ.get("NEXUS_SERVER_URL"):
        url = os.environ["NEXUS_SERVER_URL"]
        return ServerInfo(
            url if url.endswith("/") else url + "/", os.environ.get("NEXUS_SERVER_TOKEN") or hub_token
        )
    for pid in _ancestors(os.getpid()):
        for folder in _runtime_dirs():
            info_file = folder / f"jpserver-{pid}.json"
            try:
                info = json.loads(info_file.read_text())
            except (OSError, ValueError):
                continue
            url = str(info.get("url") or "")
            if url:
                return ServerInfo(
                    url if url.endswith("/") else url + "/", info.get("token") or hub_token, pid
                )
    return None


def choose_transport(mode: str | None = None) -> Transport:
    """``NEXUS_TRANSPORT`` = auto (default) | server | in-process."""
    from .inprocess import InProcessTransport  # imports the model stack: only when chosen
    from .server_transport import ServerTransport

    mode = (mode or os.environ.get("NEXUS_TRANSPORT") or "auto").lower()
    if mode not in ("auto", "server", "in-process"):
        raise TransportError(f"NEXUS_TRANSPORT must be auto, server or in-process, not {mode!r}")
    if mode != "in-process":
        info = discover_server()
        if info is not None:
            transport = ServerTransport(info)
            if mode == "server" or transport.runs_nexus():
                return transport
        elif mode == "server":
            raise TransportError("no Jupyter server started this kernel (set NEXUS_SERVER_URL)")
    return InProcessTransport()


_SHARED: Transport | None = None


def shared_transport() -> Transport:
    """The kernel's one transport, shared by the magics and the widgets (chosen on first use)."""
    global _SHARED
    if _SHARED is None:
        _SHARED = choose_transport()
    return _SHARED
