"""``ModelDashboard``: routing chains, provider health, recent fallbacks, and plots of the last half hour.

The plots (latency, tokens/s, fallbacks and repairs, queue depth over time) come from
``/metrics/summary``'s ``series``: the server's numbers with the server transport,
this kernel's own with the in-process one.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import anywidget
import traitlets

from nexus_kernel.discovery import shared_transport
from nexus_kernel.transport import RECENT, Transport

HERE = Path(__file__).parent
FALLBACK_OUTCOMES = {"error", "invalid", "circuit_open", "repaired"}


def recent_fallbacks(limit: int = 10) -> list[dict[str, Any]]:
    """This kernel's recent answers whose model chain did not go as planned (newest first)."""
    out = []
    for prov in reversed(RECENT):
        failed = [p for p in prov.fallback_path if p.get("outcome") in FALLBACK_OUTCOMES]
        if failed:
            out.append(
                {
                    "task": prov.task,
                    "answered_by": f"{prov.provider}/{prov.model}",
                    "failed": [
                        f"{p['provider']}/{p['model']}: {p.get('error') or p['outcome']}" for p in failed
                    ],
                }
            )
    return out[:limit]


class ModelDashboard(anywidget.AnyWidget):
    """The ``/models`` document as tables and ``/metrics/summary``'s series as plots; the browser asks
    for a refresh every ``refresh_s`` seconds."""

    _esm = HERE / "dashboard.js"
    _css = HERE / "dashboard.css"

    tasks = traitlets.List(traitlets.Dict()).tag(sync=True)
    fallbacks = traitlets.List(traitlets.Dict()).tag(sync=True)
    answers = traitlets.Int(0).tag(sync=True)
    series = traitlets.List(traitlets.Dict(), help="Points of /metrics/summary's series, oldest first.").tag(
        sync=True
    )
    series_interval_s = traitlets.Float(10.0).tag(sync=True)
    refreshed_at = traitlets.Unicode("").tag(sync=True)
    refresh_s = traitlets.Float(10.0, help="Seconds between refreshes while shown (0: only on demand).").tag(
        sync=True
    )
    error = traitlets.Unicode("").tag(sync=True)

    def __init__(self, transport: Transport | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._transport = transport
        self.on_msg(self._on_frontend_msg)
        self.refresh()

    def _on_frontend_msg(self, widget: Any, content: Any, buffers: Any) -> None:
        if isinstance(content, dict) and content.get("type") == "refresh":
            self.refresh()

    def refresh(self) -> None:
        """Read the chains and health again (errors are shown in the widget, not raised)."""
        transport = self._transport or shared_transport()
        try:
            doc = transport.models()
            summary = transport.metrics()
        except Exception as exc:
            self.error = str(exc)
            return
        self.series = list(summary.get("series", []))
        self.series_interval_s = float(summary.get("series_interval_s") or 10.0)
        self.tasks = doc.get("tasks", [])
        self.fallbacks = recent_fallbacks()
        self.answers = len(RECENT)
        self.refreshed_at = time.strftime("%H:%M:%S")
        self.error = ""
