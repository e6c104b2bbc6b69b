"""The file watcher feeds real file-system changes (not hidden or environment files) to subscribers."""

from __future__ import annotations

import asyncio
from pathlib import Path

from nexus_server_ext.projects import FileChange, FileWatcher


async def test_changes_reach_subscribers_and_noise_is_ignored(tmp_path: Path) -> None:
    (tmp_path / "proj").mkdir()
    (tmp_path / "proj" / "old.py").write_text("x = 1\n")
    watcher = FileWatcher(tmp_path, debounce_ms=50)
    batches: list[list[FileChange]] = []
    received = asyncio.Event()

    async def on_change(changes: list[FileChange]) -> None:
        batches.append(changes)
        received.set()

    unsubscribe = watcher.subscribe(on_change)
    await watcher.ready.wait()
    await asyncio.sleep(0.3)  # the native watch is registered once iteration starts
    (tmp_path / ".venv").mkdir()
    (tmp_path / ".venv" / "noise.py").write_text("ignored")
    (tmp_path / "proj" / "__pycache__").mkdir()
    (tmp_path / "proj" / "__pycache__" / "x.pyc").write_bytes(b"ignored")
    (tmp_path / "proj" / "new.py").write_text("y = 2\n")
    (tmp_path / "proj" / "old.py").unlink()

    seen: set[FileChange] = set()
    for _ in range(50):
        await asyncio.wait_for(received.wait(), timeout=10)
        received.clear()
        seen = {c for batch in batches for c in batch}
        if {"proj/new.py", "proj/old.py"} <= {c.path for c in seen}:
            break
    assert FileChange("added", "proj/new.py") in seen
    assert FileChange("deleted", "proj/old.py") in seen
    assert all(".venv" not in c.path and "__pycache__" not in c.path for c in seen)
    unsubscribe()
    await watcher.stop()
