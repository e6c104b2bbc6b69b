"""NEXUS in notebook cells: the ``%nexus`` / ``%%nexus`` magics and the "Python 3 (NEXUS)" kernel spec.

``%load_ext nexus_kernel`` registers the magics; kernels started from the
NEXUS kernel spec load them at start-up.
"""

from __future__ import annotations

from typing import Any

from nexus_server_ext._version import __version__

__all__ = ["__version__", "load_ipython_extension", "unload_ipython_extension"]


def load_ipython_extension(ipython: Any) -> None:
    from .magics import NexusMagics

    ipython.register_magics(NexusMagics)


def unload_ipython_extension(ipython: Any) -> None:
    magics = ipython.magics_manager.registry.pop("NexusMagics", None)
    if magics is not None and hasattr(magics, "close"):
        magics.close()
    for kind in ("line", "cell"):
        ipython.magics_manager.magics[kind].pop("nexus", None)
