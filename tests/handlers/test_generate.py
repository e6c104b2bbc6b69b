"""``/generate``, ``/complete`` and ``/models`` on a real Jupyter server with the real local model."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select
from tornado.httpclient import HTTPClientError

from nexus_server_ext.store.models import Interaction


async def post(jp_fetch: Any, path: str, body: Any) -> Any:
    r = await jp_fetch(
        f"nexus/api/v1/{path}", method="POST", body=json.dumps(body), raise_error=False, request_timeout=300
    )
    return r.code, json.loads(r.body)


async def test_generate_returns_valid_python_and_records_the_interaction(
    jp_fetch: Any, nexus_services: Any, local_engine: Any
) -> None:
    code, reply = await post(
        jp_fetch,
        "generate",
        {"prompt": "Write a Python function add(a, b) that returns the sum of a and b.", "max_tokens": 40},
    )
    assert code == 200, reply
    assert reply["valid"] and reply["provider"] == "local" and reply["language"] == "python"
    ast.parse(reply["code"])
    assert [s["outcome"] for s in reply["fallback_path"]][-1] == "ok"
    row = nexus_services.database.call(
        lambda s: s.scalar(select(Interaction).where(Interaction.id == reply["interaction_id"]))
    )
    assert row.task == "code_generation" and row.provider == "local" and row.outcome == "ok"
    assert row.tokens_out == reply["tokens_out"] > 0 and row.ttft_ms is not None and row.user_id is not None


async def test_complete_and_models(jp_fetch: Any, local_engine: Any) -> None:
    code, reply = await post(
        jp_fetch,
        "complete",
        {"prefix": "def square(x):\n    return ", "suffix": "", "max_tokens": 8, "path": "maths.py"},
    )
    assert code == 200 and reply["provider"] == "local" and reply["completion"].strip()
    assert not reply["completion"].startswith("def square")
    r = await jp_fetch("nexus/api/v1/models")
    tasks = {t["task"]: t for t in json.loads(r.body)["tasks"]}
    assert tasks["completion"]["limits"]["max_tokens"] == 48
    steps = {s["provider"]: s for s in tasks["code_generation"]["chain"]}
    assert steps["openai"]["state"] == "unconfigured" and steps["local"]["state"] == "usable"
    assert steps["local"]["engine"]["state"] == "loaded" and steps["local"]["health"]["state"] == "closed"
    status = json.loads((await jp_fetch("nexus/api/v1/status")).body)
    local = next(c for c in status["components"] if c["name"] == "local_model")
    assert local["detail"].startswith("loaded on cpu")


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        ("generate", {"prompt": ""}, "prompt"),
        ("generate", {"prompt": "x", "task": "hack"}, "task"),
        ("generate", {"prompt": "x", "base_url": "http://evil"}, "base_url"),
        ("complete", {"prefix": "   "}, "nothing before the cursor"),
        ("complete", {"prefix": "x", "max_tokens": 0}, "max_tokens"),
    ],
)
async def test_bad_input_is_a_clear_400(
    jp_fetch: Any, nexus_services: Any, path: str, body: Any, message: str
) -> None:
    code, reply = await post(jp_fetch, path, body)
    assert code == 400 and message in reply["message"] and "Traceback" not in reply["message"]
    assert nexus_services.database.call(lambda s: s.scalars(select(Interaction)).all()) == []


class TestNoModel:
    @pytest.fixture
    def jp_server_config(self, nexus_data_dir: Path, unused_port: int) -> dict[str, Any]:
        routing = nexus_data_dir / "routing.yaml"
        routing.write_text(
            yaml.safe_dump(
                {
                    "providers": {
                        "down": {
                            "kind": "openai",
                            "base_url": f"http://127.0.0.1:{unused_port}/v1",
                            "api_key": "sk-hidden",
                        }
                    },
                    "tasks": {"code_generation": {"chain": [{"provider": "down", "model": "m"}]}},
                }
            )
        )
        return {
            "ServerApp": {"jpserver_extensions": {"nexus_server_ext": True}},
            "NexusApp": {"data_dir": str(nexus_data_dir), "routing_file": str(routing)},
        }

    async def test_every_model_down_is_503_and_recorded(self, jp_fetch: Any, nexus_services: Any) -> None:
        code, reply = await post(jp_fetch, "generate", {"prompt": "x"})
        assert code == 503 and reply["error"] == "no_model_available"
        assert "cannot connect" in reply["message"] and "sk-hidden" not in reply["message"]
        assert "127.0.0.1" not in reply["message"]
        rows = nexus_services.database.call(lambda s: s.scalars(select(Interaction)).all())
        assert [(r.outcome, r.fallback_path[0]["outcome"]) for r in rows] == [("error", "error")]


class TestInvalidRouting:
    @pytest.fixture
    def jp_server_config(self, nexus_data_dir: Path) -> dict[str, Any]:
        routing = nexus_data_dir / "routing.yaml"
        routing.write_text(
            "providers: {local: {kind: local}}\ntasks: {completion: {chain: [], limits: {}}}\n"
        )
        return {
            "ServerApp": {"jpserver_extensions": {"nexus_server_ext": True}},
            "NexusApp": {"data_dir": str(nexus_data_dir), "routing_file": str(routing)},
        }

    async def test_endpoints_say_so_and_status_names_the_key(self, jp_fetch: Any) -> None:
        with pytest.raises(HTTPClientError) as err:
            await jp_fetch("nexus/api/v1/models")
        assert err.value.code == 503
        status = json.loads((await jp_fetch("nexus/api/v1/status")).body)
        routing = next(c for c in status["components"] if c["name"] == "routing")
        assert "tasks.completion.chain" in routing["detail"]
