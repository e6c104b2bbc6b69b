"""``/generate``, ``/complete`` and ``/models`` on a real Jupyter server with the real local model."""

from __future__ import annotations

import ast
import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
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
        {"prefix": "def is_even(n):\n    return ", "suffix": "", "max_tokens": 8, "path": "maths.py"},
    )
    assert code == 200 and reply["provider"] == "local"
    # the shipped gate (SmolLM2: 0.4) shows what the model is sure of
    assert reply["completion"] == "n % 2 == 0" and not reply["suppressed"] and reply["confidence"] > 0.4
    r = await jp_fetch("nexus/api/v1/models")
    tasks = {t["task"]: t for t in json.loads(r.body)["tasks"]}
    assert tasks["completion"]["limits"]["max_tokens"] == 48
    steps = {s["provider"]: s for s in tasks["code_generation"]["chain"]}
    assert steps["openai"]["state"] == "unconfigured" and steps["local"]["state"] == "usable"
    assert steps["local"]["engine"]["state"] == "loaded" and steps["local"]["health"]["state"] == "closed"
    status = json.loads((await jp_fetch("nexus/api/v1/status")).body)
    local = next(c for c in status["components"] if c["name"] == "local_model")
    assert local["detail"].startswith(("loaded on cpu", "loaded on cuda"))


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
    def jp_server_config(self, nexus_config: Any, unused_port: int) -> dict[str, Any]:
        routing = {
            "providers": {
                "down": {
                    "kind": "openai",
                    "base_url": f"http://127.0.0.1:{unused_port}/v1",
                    "api_key": "sk-hidden",
                }
            },
            "tasks": {"code_generation": {"chain": [{"provider": "down", "model": "m"}]}},
        }
        return nexus_config(routing=yaml.safe_dump(routing))

    async def test_every_model_down_is_503_and_recorded(self, jp_fetch: Any, nexus_services: Any) -> None:
        code, reply = await post(jp_fetch, "generate", {"prompt": "x"})
        assert code == 503 and reply["error"] == "no_model_available"
        assert "cannot connect" in reply["message"] and "sk-hidden" not in reply["message"]
        assert "127.0.0.1" not in reply["message"]
        rows = nexus_services.database.call(lambda s: s.scalars(select(Interaction)).all())
        assert [(r.outcome, r.fallback_path[0]["outcome"]) for r in rows] == [("error", "error")]


def gated_routing(gate: dict[str, Any]) -> str:
    spec = {"chain": [{"provider": "local", "model": "SmolLM2-135M-Instruct"}], "limits": {"max_tokens": 16}}
    return yaml.safe_dump(
        {"providers": {"local": {"kind": "local"}}, "tasks": {"completion": {**spec, "gate": gate}}}
    )


COMPLETE = {
    "prefix": 'mean_temp = df["temp"].',
    "cells": ["import pandas as pd", "df = pd.read_csv('t.csv')"],
}


class TestGateThatSuppresses:
    """A threshold above anything the model reaches: every suggestion is held back, and recorded so."""

    @pytest.fixture
    def jp_server_config(self, nexus_config: Any) -> dict[str, Any]:
        return nexus_config(
            routing=gated_routing({"enabled": True, "models": {"SmolLM2-135M-Instruct": 1.0}})
        )

    async def test_nothing_is_shown_and_the_interaction_says_suppressed(
        self, jp_fetch: Any, nexus_services: Any, local_engine: Any
    ) -> None:
        code, reply = await post(jp_fetch, "complete", COMPLETE)
        assert code == 200 and reply["completion"] == "" and reply["suppressed"]
        assert 0.0 < reply["confidence"] < 1.0
        row = nexus_services.database.call(
            lambda s: s.scalar(select(Interaction).where(Interaction.id == reply["interaction_id"]))
        )
        assert row.task == "completion" and row.outcome == "suppressed"


class TestGateThatShows:
    @pytest.fixture
    def jp_server_config(self, nexus_config: Any) -> dict[str, Any]:
        return nexus_config(
            routing=gated_routing({"enabled": True, "models": {"SmolLM2-135M-Instruct": 0.05}})
        )

    async def test_a_suggestion_above_the_threshold_is_shown(
        self, jp_fetch: Any, nexus_services: Any, local_engine: Any
    ) -> None:
        code, reply = await post(jp_fetch, "complete", COMPLETE)
        assert code == 200 and reply["completion"] == "mean()" and not reply["suppressed"]
        row = nexus_services.database.call(
            lambda s: s.scalar(select(Interaction).where(Interaction.id == reply["interaction_id"]))
        )
        assert row.outcome == "ok"


class TestGateOff:
    @pytest.fixture
    def jp_server_config(self, nexus_config: Any) -> dict[str, Any]:
        return nexus_config(
            routing=gated_routing({"enabled": False, "models": {"SmolLM2-135M-Instruct": 1.0}})
        )

    async def test_every_suggestion_is_shown(self, jp_fetch: Any, local_engine: Any) -> None:
        code, reply = await post(jp_fetch, "complete", COMPLETE)
        assert code == 200 and reply["completion"] == "mean()" and not reply["suppressed"]


class TestInvalidRouting:
    @pytest.fixture
    def jp_server_config(self, nexus_config: Any) -> dict[str, Any]:
        return nexus_config(
            routing="providers: {local: {kind: local}}\ntasks: {completion: {chain: [], limits: {}}}\n"
        )

    async def test_endpoints_say_so_and_status_names_the_key(self, jp_fetch: Any) -> None:
        with pytest.raises(HTTPClientError) as err:
            await jp_fetch("nexus/api/v1/models")
        assert err.value.code == 503
        status = json.loads((await jp_fetch("nexus/api/v1/status")).body)
        routing = next(c for c in status["components"] if c["name"] == "routing")
        assert "tasks.completion.chain" in routing["detail"]


async def test_concurrent_clients_are_all_answered(jp_fetch: Any, local_engine: Any) -> None:
    prompts = [f"Write a Python function f{i}(x) that returns x + {i}." for i in range(4)]
    replies = await asyncio.gather(
        *(post(jp_fetch, "generate", {"prompt": p, "max_tokens": 30}) for p in prompts)
    )
    assert [code for code, _ in replies] == [200] * 4, replies
    assert all(reply["provider"] == "local" and reply["tokens_out"] > 0 for _, reply in replies)


async def test_overload_answers_503_with_retry_after(jp_fetch: Any, local_engine: Any) -> None:
    local_engine.max_queue = 2
    try:
        calls = [
            jp_fetch(
                "nexus/api/v1/generate",
                method="POST",
                body=json.dumps({"prompt": f"Write a long Python module number {i}.", "max_tokens": 60}),
                raise_error=False,
                request_timeout=300,
            )
            for i in range(6)
        ]
        responses = await asyncio.gather(*calls)
    finally:
        local_engine.max_queue = 8
    codes = sorted(r.code for r in responses)
    assert codes.count(200) >= 2 and codes.count(503) >= 1, codes
    for r in responses:
        if r.code == 503:
            body = json.loads(r.body)
            assert body["error"] == "overloaded" and "try again" in body["message"]
            assert int(r.headers["Retry-After"]) >= 1
    # the engine's circuit breaker did not open: a busy model is not a broken one
    assert (await post(jp_fetch, "generate", {"prompt": "Write def one(): return 1", "max_tokens": 20}))[
        0
    ] == 200


async def test_a_newer_completion_supersedes_the_older_one(jp_fetch: Any, local_engine: Any) -> None:
    older = asyncio.ensure_future(
        post(jp_fetch, "complete", {"prefix": "# a long docstring\ndef parse(text):\n    ", "max_tokens": 48})
    )
    await asyncio.sleep(0.15)  # the older one is generating (or queued) when the user types on
    newer = await post(jp_fetch, "complete", {"prefix": "def square(x):\n    return ", "max_tokens": 8})
    code, reply = await older
    assert code == 409 and reply["error"] == "superseded" and "newer" in reply["message"]
    assert newer[0] == 200 and newer[1]["provider"] == "local"  # the newer one is answered


async def run_cell(client: Any, code: str) -> str:
    msg_id = client.execute(code)
    while True:
        reply = await client.get_shell_msg(timeout=60)
        if reply["parent_header"].get("msg_id") == msg_id:
            return str(reply["content"]["status"])


@asynccontextmanager
async def notebook_kernel(jp_fetch: Any, jp_serverapp: Any, path: str) -> AsyncIterator[Any]:
    """A client of the kernel of a new session for the notebook ``path`` (as JupyterLab opens one)."""
    body = json.dumps({"path": path, "type": "notebook", "kernel": {"name": "python3"}})
    session = json.loads((await jp_fetch("api/sessions", method="POST", body=body)).body)
    km = jp_serverapp.kernel_manager
    client = km.get_kernel(session["kernel"]["id"]).client()
    client.start_channels()
    try:
        await client.wait_for_ready(timeout=60)
        yield client
    finally:
        client.stop_channels()
        await km.shutdown_kernel(session["kernel"]["id"], now=True)


async def test_explain_fix_with_a_traceback_starts_with_the_facts(
    jp_fetch: Any, jp_serverapp: Any, local_engine: Any
) -> None:
    """The debug panel's Explain / Fix sends the cell's traceback; the answer names the error first,
    with the values on the failing line when the notebook's kernel can be asked."""
    cell = "x = [1, 2, 3]\nprint(x[10])"
    traceback = (
        "IndexError: list index out of range\n"
        "---------------------------------------------------------------------------\n"
        "IndexError                                Traceback (most recent call last)\n"
        "Cell In[2], line 2\n"
        "      1 x = [1, 2, 3]\n"
        "----> 2 print(x[10])\n\n"
        "IndexError: list index out of range"
    )
    body = {
        "task": "code_generation",
        "prompt": "Explain the error and fix the code.",
        "context": {"code": cell, "error": traceback},
        "max_tokens": 60,
    }
    code, reply = await post(jp_fetch, "generate", body)  # no notebook: the traceback alone
    assert code == 200, reply
    first = reply["explanation"].split("\n\n")[0]
    assert first.startswith("**IndexError**") and "line 2" in first and "x[10]" in first

    async with notebook_kernel(jp_fetch, jp_serverapp, "lists.ipynb") as client:
        assert await run_cell(client, cell) == "error"
        code, reply = await post(
            jp_fetch, "generate", {**body, "context": {**body["context"], "notebook_path": "lists.ipynb"}}
        )
        assert code == 200, reply
        facts = reply["explanation"]
        assert facts.startswith("**IndexError**") and "`x` has 3 items" in facts and "index 10" in facts


async def test_a_misspelt_name_is_fixed_from_the_facts_without_a_model(
    jp_fetch: Any, jp_serverapp: Any, local_engine: Any
) -> None:
    """Explain / Fix on a NameError whose name is a near-miss of one that is defined: the fix is the
    rename, computed, not generated (the bundled model rewrote this very cell into invalid code)."""
    cell = "def area(width, height):\n    return width * heigth  # heigth in a comment stays\n\narea(2, 3)"
    async with notebook_kernel(jp_fetch, jp_serverapp, "shapes.ipynb") as client:
        assert await run_cell(client, cell) == "error"
        body = {
            "task": "code_generation",
            "prompt": "Explain the error and fix the code.",
            "context": {
                "code": cell,
                "error": "NameError: name 'heigth' is not defined",
                "notebook_path": "shapes.ipynb",
            },
        }
        code, reply = await post(jp_fetch, "generate", body)
        assert code == 200, reply
        assert reply["code"] == cell.replace("width * heigth", "width * height")  # the comment is kept
        assert reply["valid"] and reply["outcome"] == "computed"
        assert (reply["provider"], reply["model"], reply["tokens_out"]) == ("nexus", "error facts", 0)
        assert reply["explanation"].startswith("**NameError**")
        assert "renamed `heigth` to `height` on line 2" in reply["explanation"]

        # a name with no near-miss is left to the model, told the facts
        assert await run_cell(client, "total = count_of_rows + 1") == "error"
        other = {
            **body,
            "context": {**body["context"], "code": "total = count_of_rows + 1", "error": "NameError"},
            "max_tokens": 24,
        }
        code, reply = await post(jp_fetch, "generate", other)
        assert code == 200, reply
        assert reply["outcome"] != "computed" and reply["provider"] == "local"
