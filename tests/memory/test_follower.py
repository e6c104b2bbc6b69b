"""Files change, memory follows: the file watcher re-indexes learned folders, new files included."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

FOLLOW_WAIT_S = 60  # a bound, not a measurement: the watcher reacts within about a second


def body(response: Any) -> Any:
    return json.loads(response.body.decode())


async def learn(jp_fetch: Any, path: str) -> dict[str, Any]:
    job = body(await jp_fetch("nexus/api/v1/memory/learn", method="POST", body=json.dumps({"path": path})))
    for _ in range(1200):
        task = body(await jp_fetch("nexus/api/v1/tasks", job["task_id"]))
        if task["state"] not in ("pending", "running"):
            assert task["state"] == "succeeded", task
            return task
        await asyncio.sleep(0.1)
    raise AssertionError("learning did not finish")


async def search(jp_fetch: Any, query: str) -> list[dict[str, Any]]:
    return body(await jp_fetch("nexus/api/v1/memory", params={"q": query, "k": "5"}))["results"]


async def eventually(check: Any) -> Any:
    for _ in range(FOLLOW_WAIT_S * 10):
        found = await check()
        if found:
            return found
        await asyncio.sleep(0.1)
    raise AssertionError("the memory did not follow the change in time")


async def test_new_and_edited_files_in_a_learned_folder_reach_memory_search(
    jp_fetch: Any, jp_root_dir: Path, nexus_services: Any
) -> None:
    notes = jp_root_dir / "notes"
    notes.mkdir()
    (notes / "budget.md").write_text("# Budget\nThe quarterly budget review is on Monday morning.\n")
    (jp_root_dir / "elsewhere").mkdir()
    await learn(jp_fetch, "notes")
    assert [h["source"] for h in await search(jp_fetch, "quarterly budget review")][:1] == ["notes/budget.md"]

    (notes / "penguins.md").write_text("# Penguins\nThe emperor penguin colony migrates inland in October.\n")
    (notes / "budget.md").write_text(
        "# Budget\nThe quarterly budget review moved to Friday; the zebra committee chairs it.\n"
    )
    (jp_root_dir / "elsewhere" / "owls.md").write_text("# Owls\nBarn owls hunt voles at dusk.\n")

    async def new_file_found() -> bool:
        hits = await search(jp_fetch, "emperor penguin colony migration")
        return any(h["source"] == "notes/penguins.md" and "October" in h["text"] for h in hits)

    async def edit_found() -> bool:
        hits = await search(jp_fetch, "who chairs the budget review")
        return any(h["source"] == "notes/budget.md" and "zebra committee" in h["text"] for h in hits)

    await eventually(new_file_found)
    await eventually(edit_found)
    stale = [h for h in await search(jp_fetch, "budget review Monday") if "Monday" in h["text"]]
    assert stale == []  # the old text is gone, not kept beside the new
    # only learned folders are followed: a file elsewhere under the root stays out of memory
    assert all(h["source"] != "elsewhere/owls.md" for h in await search(jp_fetch, "barn owls hunt voles"))

    (notes / "penguins.md").unlink()

    async def forgotten() -> bool:
        return all(
            h["source"] != "notes/penguins.md" for h in await search(jp_fetch, "emperor penguin colony")
        )

    await eventually(forgotten)
    # what is followed survives a restart (the next server catches up from it)
    state = json.loads((Path(nexus_services.deferred.follower.state_file)).read_text())
    assert state["follow"] == {nexus_services.owner_name: ["notes"]}

    # forgetting the folder stops following it
    r = await jp_fetch("nexus/api/v1/memory", method="DELETE", params={"source": "notes"})
    assert body(r)["removed"] >= 1
    (notes / "otters.md").write_text("# Otters\nSea otters hold hands while sleeping.\n")
    await asyncio.sleep(3)
    assert await search(jp_fetch, "sea otters sleeping") == []
