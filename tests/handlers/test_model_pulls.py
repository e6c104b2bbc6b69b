"""The model dashboard's catalogue, Pull (progress, Cancel, resume) and Use, against a stand-in Hub.

Pulls run in child processes of the real server (``HF_ENDPOINT`` points them at
``support/hub_standin.py``); the pulled file is a fake GGUF, so the servers here
never load the local model (``preload_local_model = never``, no generation).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.hub_standin import HubStandIn, fake_gguf

from nexus_server_ext.ai.model_catalog import find_model
from nexus_server_ext.ai.model_pull import partial_bytes, pull
from nexus_server_ext.ai.user_routing import user_routing_file, write_user_routing

MODEL = find_model("qwen2.5-coder-0.5b")
GGUF = fake_gguf()


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[HubStandIn]:
    with HubStandIn({(MODEL.repo_id, MODEL.filename): GGUF}) as standin:
        monkeypatch.setenv("HF_ENDPOINT", standin.url)  # the pulls' child processes inherit it
        monkeypatch.delenv("HF_TOKEN", raising=False)
        monkeypatch.delenv("NEXUS_ROUTING_FILE", raising=False)
        yield standin


@pytest.fixture
def jp_server_config(nexus_config: Any, hub: HubStandIn) -> dict[str, Any]:
    return nexus_config(preload_local_model="never")


async def call(jp_fetch: Any, verb: str, path: str, body: Any = None) -> tuple[int, Any]:
    kwargs: dict[str, Any] = {"method": verb, "raise_error": False}
    if body is not None:
        kwargs["body"] = json.dumps(body)
    if verb == "DELETE":
        kwargs["allow_nonstandard_methods"] = True
    r = await jp_fetch(f"nexus/api/v1/{path}", **kwargs)
    return r.code, json.loads(r.body) if r.body else None


async def wait_for(jp_fetch: Any, pull_id: str, until: Any, timeout: float = 90) -> list[dict[str, Any]]:
    """Poll a pull as the dashboard does, until ``until(pull)``; every answer seen, in order."""
    seen: list[dict[str, Any]] = []
    for _ in range(int(timeout / 0.1)):
        code, current = await call(jp_fetch, "GET", f"models/pulls/{pull_id}")
        assert code == 200
        seen.append(current)
        if until(current):
            return seen
        await asyncio.sleep(0.1)
    raise AssertionError(f"the pull never got there: {seen[-1]}")


async def local_models(jp_fetch: Any) -> dict[str, list[str]]:
    """/status: the local step's model per task."""
    _, status = await call(jp_fetch, "GET", "status")
    return {m["task"]: [s["model"] for s in m["chain"] if s["provider"] == "local"] for m in status["models"]}


async def test_pull_shows_progress_switches_the_running_server_and_use_goes_back(
    jp_fetch: Any, hub: HubStandIn, nexus_data_dir: Path, nexus_services: Any
) -> None:
    assert (await local_models(jp_fetch))["completion"] == ["SmolLM2-135M-Instruct"]
    hub.delay_s = 0.001  # about 1.5 s: the dashboard sees it move
    code, started = await call(jp_fetch, "POST", "models/pulls", {"name": MODEL.name})
    assert code == 202 and started["state"] == "running" and started["use"] is True

    seen = await wait_for(jp_fetch, started["id"], lambda p: p["state"] not in ("running", "verifying"))
    done = seen[-1]
    assert done["state"] == "done", done
    assert done["in_use"] is True and "now use qwen2.5-coder-0.5b" in done["note"]
    assert done["done_bytes"] == done["total_bytes"] == len(GGUF)
    moving = [p["done_bytes"] for p in seen if p["state"] == "running" and 0 < p["done_bytes"] < len(GGUF)]
    assert moving, "no progress was reported while the file downloaded"

    # the running server answers with the pulled model from the next request on
    for task in ("natural_language", "code_generation", "code_analysis", "completion", "agent"):
        assert (await local_models(jp_fetch))[task] == [MODEL.name]
    gguf_path = nexus_data_dir / "models" / MODEL.name / MODEL.filename
    assert nexus_services.router.providers["local"].engine.source == str(gguf_path)
    assert user_routing_file(nexus_data_dir).is_file()
    _, catalog = await call(jp_fetch, "GET", "models/catalog")
    assert catalog["active"] == MODEL.name and catalog["switchable"] is True
    entry = next(m for m in catalog["models"] if m["name"] == MODEL.name)
    assert entry["pulled"] and entry["in_use"] and entry["size_bytes"] == len(GGUF)
    assert catalog["pulls"][0]["id"] == started["id"]

    code, used = await call(jp_fetch, "PUT", "models/active", {"name": "bundled"})
    assert code == 200 and used["active"] == "bundled"
    assert (await local_models(jp_fetch))["completion"] == ["SmolLM2-135M-Instruct"]
    assert not user_routing_file(nexus_data_dir).exists()

    code, used = await call(jp_fetch, "PUT", "models/active", {"name": MODEL.name})
    assert code == 200 and used["active"] == MODEL.name


async def test_cancel_stops_the_child_and_the_next_pull_resumes(
    jp_fetch: Any, hub: HubStandIn, nexus_data_dir: Path, nexus_services: Any
) -> None:
    hub.delay_s = 0.005  # about 8 s for the whole file
    _, started = await call(jp_fetch, "POST", "models/pulls", {"name": MODEL.name})
    await wait_for(jp_fetch, started["id"], lambda p: p["done_bytes"] > 0)
    code, cancelled = await call(jp_fetch, "DELETE", f"models/pulls/{started['id']}")
    assert code == 200 and cancelled["state"] == "cancelled"
    child = nexus_services.model_pulls.pulls[started["id"]].process
    assert child.poll() is not None  # the download's process has ended
    kept = partial_bytes(nexus_data_dir, MODEL)
    assert 0 < kept < len(GGUF)
    await asyncio.sleep(0.5)
    _, after = await call(jp_fetch, "GET", f"models/pulls/{started['id']}")
    assert after["state"] == "cancelled" and not user_routing_file(nexus_data_dir).exists()

    hub.delay_s = 0
    _, again = await call(jp_fetch, "POST", "models/pulls", {"name": MODEL.name})
    done = (await wait_for(jp_fetch, again["id"], lambda p: p["state"] in ("done", "failed")))[-1]
    assert done["state"] == "done" and done["resumed_from_bytes"] == kept
    assert hub.requests[-1].range == f"bytes={kept}-" and hub.requests[-1].sent == len(GGUF) - kept


async def test_a_failed_pull_says_why_and_changes_nothing(
    jp_fetch: Any, hub: HubStandIn, nexus_data_dir: Path
) -> None:
    hub.corrupt = True
    _, started = await call(jp_fetch, "POST", "models/pulls", {"name": MODEL.name})
    failed = (await wait_for(jp_fetch, started["id"], lambda p: p["state"] in ("done", "failed")))[-1]
    assert failed["state"] == "failed" and "does not match the Hub's checksum" in failed["error"]
    assert failed["in_use"] is False
    assert not user_routing_file(nexus_data_dir).exists()
    assert (await local_models(jp_fetch))["completion"] == ["SmolLM2-135M-Instruct"]


@pytest.mark.parametrize(
    ("verb", "path", "body", "status", "error"),
    [
        ("POST", "models/pulls", {"name": "no-such-model"}, 404, "unknown_model"),
        ("PUT", "models/active", {"name": MODEL.name}, 409, "not_pulled"),
        ("GET", "models/pulls/0123456789ab", None, 404, "not_found"),
        ("POST", "models/pulls", {"name": "../etc"}, 400, "invalid_request"),
    ],
)
async def test_refusals_are_clear(
    jp_fetch: Any, verb: str, path: str, body: Any, status: int, error: str
) -> None:
    code, reply = await call(jp_fetch, verb, path, body)
    assert (code, reply["error"]) == (status, error), reply


class TestServerStartedAfterACliPull:
    @pytest.fixture
    def jp_server_config(self, nexus_config: Any, hub: HubStandIn, nexus_data_dir: Path) -> dict[str, Any]:
        write_user_routing(nexus_data_dir, pull(MODEL, nexus_data_dir))  # `jupyter nexus models pull`
        return nexus_config(preload_local_model="never")

    async def test_status_reports_the_pulled_model(self, jp_fetch: Any) -> None:
        chains = await local_models(jp_fetch)
        assert chains["natural_language"] == chains["completion"] == [MODEL.name]
        assert chains["embeddings"] == ["all-MiniLM-L6-v2"]
        _, catalog = await call(jp_fetch, "GET", "models/catalog")
        assert catalog["active"] == MODEL.name
        assert catalog["models"][0]["name"] == "bundled"


class TestAnAdministratorsRoutingFile:
    @pytest.fixture
    def jp_server_config(self, nexus_config: Any, hub: HubStandIn, tmp_path: Path) -> dict[str, Any]:
        chosen = tmp_path / "team-routing.yaml"
        chosen.write_text(
            "providers:\n  local: {kind: local, model: 'bundled:SmolLM2-135M-Instruct'}\n"
            "tasks:\n  completion:\n    chain: [{provider: local, model: SmolLM2-135M-Instruct}]\n"
        )
        return nexus_config(preload_local_model="never", routing_file=str(chosen))

    async def test_pulls_do_not_rewrite_it(self, jp_fetch: Any, nexus_data_dir: Path) -> None:
        _, catalog = await call(jp_fetch, "GET", "models/catalog")
        assert catalog["switchable"] is False and "team-routing.yaml" in catalog["note"]
        _, started = await call(jp_fetch, "POST", "models/pulls", {"name": MODEL.name})
        done = (await wait_for(jp_fetch, started["id"], lambda p: p["state"] in ("done", "failed")))[-1]
        assert done["state"] == "done" and done["in_use"] is False and "not switched" in done["note"]
        code, reply = await call(jp_fetch, "PUT", "models/active", {"name": MODEL.name})
        assert (code, reply["error"]) == (409, "routing_chosen_by_configuration")
        assert not user_routing_file(nexus_data_dir).exists()
