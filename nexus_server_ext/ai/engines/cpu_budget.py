"""How many CPU threads a decode may use right now, from what the rest of the machine is doing.

llama.cpp's threads meet at a barrier every layer. On an idle machine two threads decode the bundled
model about 1.8x faster than one; but when another process (the user's kernel, a test, a build) wants
a core, a thread that loses its core stalls all the others, and the same two threads become three to
five times *slower* than one (measured on two cores). So the engine asks before each request: a
sampler thread reads ``/proc/stat`` and this process's own CPU time every half second, and what the
*other* processes used is what the decode must leave free. Without ``/proc`` the count stays fixed.
"""

from __future__ import annotations

import math
import os
import threading
import time
from pathlib import Path

STAT = Path("/proc/stat")
SELF_STAT = Path("/proc/self/stat")


def _machine_busy_s() -> float | None:
    """CPU-seconds all CPUs spent not idle since boot (None without /proc)."""
    try:
        fields = STAT.read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return None
    ticks = [int(f) for f in fields]
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)  # idle + iowait
    return (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _own_busy_s() -> float:
    fields = SELF_STAT.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class CpuBudget:
    """``threads()``: cores not used by other processes (between 1 and ``max_threads``)."""

    def __init__(self, max_threads: int, adaptive: bool = True, interval_s: float = 0.5) -> None:
        self.max_threads = max(1, max_threads)
        self.adaptive = adaptive
        self.interval_s = interval_s
        self.others = 0.0  # cores the rest of the machine used lately (a moving average)
        self._started = False
        self._lock = threading.Lock()

    def threads(self) -> int:
        if not self.adaptive or self.max_threads == 1:
            return self.max_threads
        self._start()
        # leave a margin: a core that others use a third of the time is not free for a barrier
        return max(1, min(self.max_threads, (os.cpu_count() or 1) - math.ceil(self.others - 0.2)))

    def _start(self) -> None:
        with self._lock:
            if self._started or _machine_busy_s() is None:
                return
            self._started = True
        threading.Thread(target=self._sample, name="nexus-cpu-budget", daemon=True).start()

    def _sample(self) -> None:
        machine, own, at = _machine_busy_s() or 0.0, _own_busy_s(), time.monotonic()
        while True:
            time.sleep(self.interval_s)
            now_machine, now_own, now = _machine_busy_s() or 0.0, _own_busy_s(), time.monotonic()
            others = max(0.0, (now_machine - machine) - (now_own - own)) / max(now - at, 1e-3)
            self.others = 0.5 * self.others + 0.5 * others
            machine, own, at = now_machine, now_own, now
