"""Auth on every NEXUS route, found by enumerating the running server's handlers.

A route added without an example here, or without auth, fails this module.
"""

from __future__ import annotations

import json
import warnings
from typing import Any

import pytest
from jupyter_server.auth.authorizer import Authorizer
from sqlalchemy import func, select
from tornado.httpclient import HTTPClientError
from tornado.websocket import WebSocketClientConnection

from nexus_server_ext.store.models import Conversation, Message, Task, User


class DenyNexusAuthorizer(Authorizer):
    """Allows Jupyter itself but nothing under ``nexus:*``."""

    def is_authorized(self, handler: Any, user: Any, action: str, resource: str) -> bool:
        return not resource.startswith("nexus:")


def nexus_routes(serverapp: Any) -> list[tuple[str, type, list[str]]]:
    """(regex, handler class, verbs it implements) for every route under /nexus/."""
    out = []
    app = serverapp.web_app
    for rule in [*app.default_router.rules, *app.wildcard_router.rules]:
        for sub in getattr(rule.target, "rules", [rule]):
            pattern = sub.matcher.regex.pattern
            if "/nexus/" not in pattern:
                continue
            handler = sub.target
            verbs = [
                m
                for m in ("get", "post", "put", "patch", "delete")
                if getattr(handler, m).__qualname__.split(".")[0] == handler.__name__
            ]
            out.append((pattern, handler, verbs))
    return out


CONV = "{conversation_id}"
TASK = "{task_id}"
PROJ = "{project_id}"
CMD = "{name}"
PROVIDER = "{provider}"
ANY = "{path}"  # the catch-all after every route: unknown paths under the prefix
# One permitted example request per (route template, verb): (body, expected status).
EXAMPLES: dict[tuple[str, str], tuple[Any, int]] = {
    ("/nexus/api/v1/status", "get"): (None, 200),
    ("/nexus/api/v1/openapi.json", "get"): (None, 200),
    ("/nexus/api/v1/conversations", "get"): (None, 200),
    ("/nexus/api/v1/conversations", "post"): ({"title": "auth test"}, 201),
    (f"/nexus/api/v1/conversations/{CONV}", "get"): (None, 200),
    (f"/nexus/api/v1/conversations/{CONV}", "patch"): ({"title": "renamed"}, 200),
    (f"/nexus/api/v1/conversations/{CONV}", "delete"): (None, 204),
    ("/nexus/api/v1/ws", "get"): ("websocket", 101),
    ("/nexus/api/v1/tasks", "get"): (None, 200),
    (f"/nexus/api/v1/tasks/{TASK}", "get"): (None, 200),
    (f"/nexus/api/v1/tasks/{TASK}/cancel", "post"): ({}, 200),
    (f"/nexus/api/v1/tasks/{TASK}/retry", "post"): ({}, 201),
    ("/nexus/api/v1/projects", "get"): (None, 200),
    ("/nexus/api/v1/projects", "post"): ({"name": "auth-project"}, 201),
    (f"/nexus/api/v1/projects/{PROJ}", "get"): (None, 200),
    (f"/nexus/api/v1/projects/{PROJ}/git/status", "get"): (None, 200),
    (f"/nexus/api/v1/projects/{PROJ}/git/diff", "get"): (None, 200),
    (f"/nexus/api/v1/projects/{PROJ}/git/log", "get"): (None, 200),
    (f"/nexus/api/v1/projects/{PROJ}/git/commit-message", "post"): ({}, 200),
    (f"/nexus/api/v1/projects/{PROJ}/git/commit", "post"): ({"message": "auth test"}, 201),
    ("/nexus/api/v1/extensions", "get"): (None, 200),
    ("/nexus/api/v1/commands", "get"): (None, 200),
    (f"/nexus/api/v1/commands/{CMD}", "post"): ({}, 200),
    ("/nexus/api/v1/metrics/summary", "get"): (None, 200),
    ("/nexus/api/v1/audit", "get"): (None, 200),
    ("/nexus/api/v1/voice/transcribe", "post"): ({"not": "audio"}, 415),
    ("/nexus/api/v1/voice/interpret", "post"): ({"text": "save the notebook"}, 200),
    ("/nexus/api/v1/voice/profile", "get"): (None, 200),
    ("/nexus/api/v1/voice/profile", "put"): ({"vocabulary": ["polars"]}, 200),
    ("/nexus/api/v1/generate", "post"): (
        {"prompt": "Say hi.", "task": "natural_language", "max_tokens": 2},
        200,
    ),
    ("/nexus/api/v1/complete", "post"): ({"prefix": "x = ", "max_tokens": 2}, 200),
    ("/nexus/api/v1/models", "get"): (None, 200),
    # the model dashboard: no such model to pull, no such pull (pulls are tested in test_model_pulls.py)
    ("/nexus/api/v1/models/catalog", "get"): (None, 200),
    ("/nexus/api/v1/models/pulls", "post"): ({"name": "no-such-model"}, 404),
    ("/nexus/api/v1/models/pulls/{pull_id}", "get"): (None, 404),
    ("/nexus/api/v1/models/pulls/{pull_id}", "delete"): (None, 404),
    ("/nexus/api/v1/models/active", "put"): ({"name": "bundled"}, 200),
    ("/nexus/api/v1/chat", "post"): ({"text": "/help"}, 200),
    ("/nexus/api/v1/chat/commands", "get"): (None, 200),
    ("/nexus/api/v1/feedback", "post"): ({"interaction_id": 999999, "kind": "up"}, 404),
    ("/nexus/api/v1/memory", "get"): ({"q": "how to load data"}, 200),
    ("/nexus/api/v1/memory", "delete"): (None, 200),
    ("/nexus/api/v1/memory/learn", "post"): ({"path": "."}, 202),
    ("/nexus/api/v1/memory/learn/{job_id}", "get"): (None, 404),
    # authorised for NEXUS; the notebook itself does not exist (its own access is tested in tests/collab)
    ("/nexus/api/v1/notebooks/chat", "get"): ({"path": "missing.ipynb"}, 404),
    ("/nexus/api/v1/notebooks/cells", "post"): ({"path": "missing.ipynb", "source": "x = 1"}, 404),
    # the agent: no such notebook, no such turn (turns are tested in tests/agent)
    ("/nexus/api/v1/agent/runs", "post"): ({"notebook": "missing.ipynb", "goal": "add a cell"}, 404),
    ("/nexus/api/v1/agent/runs", "get"): (None, 200),
    ("/nexus/api/v1/agent/runs/{run_id}", "get"): (None, 404),
    ("/nexus/api/v1/agent/runs/{run_id}/approvals/{step_id}", "post"): ({"decision": "approve"}, 404),
    ("/nexus/api/v1/agent/runs/{run_id}/stop", "post"): ({}, 404),
    ("/nexus/api/v1/agent/runs/{run_id}/undo", "post"): ({}, 404),
    ("/nexus/api/v1/agent/tools", "get"): (None, 200),
    # MCP: past NEXUS's auth, the SDK's own answers to requests without MCP headers (tests/mcp)
    ("/nexus/mcp", "post"): ({}, 400),
    ("/nexus/mcp", "get"): (None, 406),
    ("/nexus/mcp", "delete"): (None, 400),
    ("/nexus/api/v1/secrets", "get"): (None, 200),
    (f"/nexus/api/v1/secrets/user/{PROVIDER}", "put"): ({"api_key": "sk-auth-test"}, 200),
    (f"/nexus/api/v1/secrets/user/{PROVIDER}", "delete"): (None, 404),
    (f"/nexus/api/v1/secrets/server/{PROVIDER}", "put"): ({"api_key": "sk-auth-test"}, 200),
    (f"/nexus/api/v1/secrets/server/{PROVIDER}", "delete"): (None, 404),
    **{
        (f"/nexus/api/v1{ANY}", verb): ({} if verb in ("post", "put", "patch") else None, 404)
        for verb in ("get", "post", "put", "patch", "delete")
    },
}


def template(pattern: str) -> str:
    """The route as an OpenAPI path template, without the server's base URL."""
    from nexus_server_ext.openapi import path_template

    path, _ = path_template(pattern)
    return path[path.index("/nexus/") :]


def data_counts(services: Any) -> list[int]:
    return services.database.call(
        lambda s: [s.scalar(select(func.count()).select_from(m)) for m in (User, Conversation, Message)]
    )


async def new_conversation(jp_fetch: Any) -> str:
    r = await jp_fetch("nexus/api/v1/conversations", method="POST", body=json.dumps({"title": "target"}))
    return json.loads(r.body)["id"]


async def targets(services: Any, conversation_id: str, owner: str | None = None) -> dict[str, str]:
    """Real objects for every path parameter: a conversation, a finished task, a project with a change."""
    owner = owner or services.owner_name
    uid = await services.users.ensure(owner)
    project, _ = await services.projects.create(uid, owner, "target project", "data-analysis")
    (services.projects.folder(project) / "notes.md").write_text("a change to commit\n")

    def add_task(session: Any) -> str:
        # An interrupted environment build for a project that no longer exists: retrying fails fast.
        task = Task(user_id=uid, kind="venv", state="interrupted", payload={"project_id": "0" * 32})
        session.add(task)
        session.flush()
        return task.id

    task_id = await services.database.run(add_task)
    return {
        CONV: conversation_id,
        TASK: task_id,
        PROJ: project.id,
        CMD: "run-cell",
        PROVIDER: "openai",
        "{run_id}": "0123abcd",  # no such agent turn
        "{step_id}": "4567ef",
        "{pull_id}": "0123456789ab",  # no such model pull
        ANY: "/no/such/endpoint",
    }


def fill(path: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        path = path.replace(key, value)
    return path


async def call(
    jp_fetch: Any, jp_ws_fetch: Any, path: str, verb: str, body: Any, headers: dict[str, str]
) -> int:
    if body == "websocket":
        try:
            ws: WebSocketClientConnection = await jp_ws_fetch(path, headers=headers)
        except HTTPClientError as exc:
            return exc.code
        ws.close()
        return 101
    path = path.replace("{job_id}", "0" * 32)
    kwargs: dict[str, Any] = {"method": verb.upper(), "headers": headers, "raise_error": False}
    if verb == "get" and isinstance(body, dict):
        kwargs["params"] = body
    if verb in ("post", "put", "patch"):
        kwargs["body"] = json.dumps(body)
    if verb == "delete":
        kwargs["allow_nonstandard_methods"] = True
    r = await jp_fetch(path, **kwargs)
    return r.code


def all_cases(serverapp: Any) -> list[tuple[str, str]]:
    cases = []
    for pattern, _handler, verbs in nexus_routes(serverapp):
        tpl = template(pattern)
        for verb in verbs:
            cases.append((tpl, verb))
    return cases


async def test_every_route_has_an_example_and_an_openapi_entry(
    jp_serverapp: Any, nexus_services: Any
) -> None:
    cases = all_cases(jp_serverapp)
    assert len(cases) >= len(EXAMPLES)
    missing = [c for c in cases if c not in EXAMPLES]
    assert not missing, f"routes without an auth example (add them to EXAMPLES): {missing}"
    spec = nexus_services.openapi_document()
    for path, verb in cases:
        if path == f"/nexus/api/v1{ANY}":  # not an endpoint: every unknown path answers a JSON 404
            assert path not in spec["paths"]
            continue
        assert verb in spec["paths"][path], f"{verb.upper()} {path} is missing from the OpenAPI document"


@pytest.mark.parametrize("case", sorted(EXAMPLES), ids=lambda c: f"{c[1]}:{c[0]}")
async def test_no_credentials_is_403_and_does_no_work(
    case: tuple[str, str], jp_fetch: Any, jp_ws_fetch: Any, nexus_services: Any
) -> None:
    path, verb = case
    values = await targets(nexus_services, await new_conversation(jp_fetch))
    before = data_counts(nexus_services)
    body, _ = EXAMPLES[case]
    code = await call(jp_fetch, jp_ws_fetch, fill(path, values), verb, body, {"Authorization": ""})
    assert code == 403
    assert data_counts(nexus_services) == before


@pytest.mark.parametrize("case", sorted(EXAMPLES), ids=lambda c: f"{c[1]}:{c[0]}")
async def test_permitted_user_succeeds(
    case: tuple[str, str], jp_fetch: Any, jp_ws_fetch: Any, nexus_services: Any, local_engine: Any
) -> None:
    # local_engine: the AI routes answer with the real model, loaded once per session beforehand
    path, verb = case
    values = await targets(nexus_services, await new_conversation(jp_fetch))
    body, expected = EXAMPLES[case]
    assert await call(jp_fetch, jp_ws_fetch, fill(path, values), verb, body, {}) == expected


class TestDeniedByAuthorizer:
    @pytest.fixture
    def jp_server_config(self, nexus_config: Any) -> dict[str, Any]:
        return nexus_config(server={"authorizer_class": DenyNexusAuthorizer})

    @pytest.mark.parametrize("case", sorted(EXAMPLES), ids=lambda c: f"{c[1]}:{c[0]}")
    async def test_authorizer_denial_is_403_and_does_no_work(
        self, case: tuple[str, str], jp_fetch: Any, jp_ws_fetch: Any, nexus_services: Any
    ) -> None:
        path, verb = case
        # Make a conversation to aim at, directly in the store (the API would refuse us).
        uid = await nexus_services.users.ensure("someone")
        conversation = await nexus_services.conversations.create(uid, "target")
        values = await targets(nexus_services, conversation.id, owner="someone")
        before = data_counts(nexus_services)
        body, _ = EXAMPLES[case]
        code = await call(jp_fetch, jp_ws_fetch, fill(path, values), verb, body, {})
        assert code == 403
        assert data_counts(nexus_services) == before


def test_server_start_emits_no_auth_warning(jp_configurable_serverapp: Any) -> None:
    from jupyter_server.utils import JupyterServerAuthWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        jp_configurable_serverapp()
    assert not [w for w in caught if issubclass(w.category, JupyterServerAuthWarning)]
