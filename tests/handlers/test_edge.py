"""Hostile input on every NEXUS route and websocket frame type, as an attacker would send it.

Routes are enumerated from the running server (as in ``test_auth.py``), so a new
route is covered without an edit here. For every body-reading verb: deeply
nested, malformed, non-object, binary, oversized and wrongly typed bodies. For
every path parameter: ids the route pattern refuses. For every websocket frame
type: the same on the socket. Never a 500, never HTML, never a dropped socket,
never the server's token or a filesystem path in a body. Each test starts one
server and walks every route, so the suite stays fast.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from test_auth import EXAMPLES, fill, new_conversation, nexus_routes, targets, template
from tornado.httpclient import AsyncHTTPClient, HTTPRequest
from tornado.websocket import WebSocketClientConnection

from nexus_server_ext.handlers.ws import NexusWebSocket

DEEP = b"[" * 100_000 + b"]" * 100_000  # 100,000 levels
NOT_AN_ENDPOINT = "/nexus/api/v1{path}"
WRONG_VALUES: list[Any] = [12345, -1, 1.5, True, None, ["a", "list"], {"an": "object"}, "text", "x" * 5000]


# -- helpers ---------------------------------------------------------------------------------------
def forbidden_strings(serverapp: Any, root: Path, data_dir: Path) -> list[str]:
    """What must never appear in a body: the server's token and the paths of this machine."""
    token = serverapp.identity_provider.token
    package = str(Path(__import__("nexus_server_ext").__file__).parent)
    return [s for s in (token, str(root), str(data_dir), sys.prefix, package, "Traceback") if s]


def check_error_reply(code: int, raw: bytes, forbidden: list[str], what: str) -> list[str]:
    """Problems with one error reply (empty when it is a proper NEXUS JSON error)."""
    problems = []
    text = raw.decode("utf-8", "replace")
    if code >= 500:
        problems.append(f"{what}: HTTP {code}")
    try:
        data = json.loads(text)
    except ValueError:
        return [*problems, f"{what}: HTTP {code} with a body that is not JSON: {text[:80]!r}"]
    if code >= 400 and set(data) != {"error", "message", "request_id"}:
        problems.append(f"{what}: error body {data!r} lacks error/message/request_id")
    problems += [f"{what}: the body contains {s[:12]!r}..." for s in forbidden if s in text]
    return problems


def body_routes(serverapp: Any) -> list[tuple[str, str, Any]]:
    """(template, verb, Operation) of every verb that reads a JSON body into a model."""
    out = []
    for pattern, handler, verbs in nexus_routes(serverapp):
        for verb in verbs:
            op = handler.operations.get(verb)
            if verb in ("post", "put", "patch") and op is not None and op.request is not None:
                out.append((template(pattern), verb, op))
    assert len(out) >= 10, out
    return out


def minimal_body(model: Any) -> dict[str, Any]:
    """A valid body for ``model`` from its required fields alone (for a route test_auth.py lacks)."""
    body: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        if not field.is_required():
            continue
        for candidate in ("notes.ipynb", 1, True, [], {}):
            try:
                model.model_validate({**body, name: candidate})
            except ValidationError as exc:
                if any(e["loc"][:1] == (name,) for e in exc.errors()):
                    continue
            body[name] = candidate
            break
    return body


async def send(jp_fetch: Any, path: str, verb: str, body: bytes | None, **kw: Any) -> Any:
    kwargs: dict[str, Any] = {"method": verb.upper(), "raise_error": False, "request_timeout": 120, **kw}
    if body is not None:
        kwargs["body"] = body
    if verb == "delete":
        kwargs["allow_nonstandard_methods"] = True
    return await jp_fetch(path, **kwargs)


async def path_values(jp_fetch: Any, nexus_services: Any) -> dict[str, str]:
    """Real objects for every path parameter (a conversation, a task, a project...)."""
    values = await targets(nexus_services, await new_conversation(jp_fetch))
    return {**values, "{job_id}": "0" * 32}


@pytest.fixture
def jp_server_config(nexus_config: Any) -> dict[str, Any]:
    """Rate limits off: these tests send hundreds of requests and must see each one's own answer."""
    off = {"per_minute": 0, "burst": 1}
    classes = {"chat": off, "completion": off, "voice": off, "default": off}
    return nexus_config(other={"RateLimiter": {"per_minute": 0, "classes": classes}})


@pytest.fixture
def forbidden(jp_serverapp: Any, jp_root_dir: Path, nexus_data_dir: Path) -> list[str]:
    return forbidden_strings(jp_serverapp, jp_root_dir, nexus_data_dir)


# -- REST bodies -------------------------------------------------------------------------------------
MALFORMED: dict[str, tuple[bytes, set[str]]] = {
    # name: (body, acceptable error codes; payload_too_large where the body outgrows the route's limit)
    "nested 100,000 levels": (DEEP, {"too_deeply_nested", "payload_too_large"}),
    "nested 100 levels": (b'{"a":' * 100 + b"1" + b"}" * 100, {"too_deeply_nested"}),
    "not JSON": (b"{oops", {"invalid_json"}),
    "truncated": (b'{"prompt": "x', {"invalid_json"}),
    "binary": (bytes(range(256)) * 4, {"invalid_json"}),
    "NaN": (b'{"max_tokens": NaN}', {"invalid_json"}),
    "a list": (b"[1, 2, 3]", {"invalid_request"}),
    "a string": (b'"just a string"', {"invalid_request"}),
    "null": (b"null", {"invalid_request"}),
    "unknown field": (b'{"__proto__": {"admin": true}}', {"invalid_request"}),
}


async def test_malformed_bodies_answer_400_with_a_clear_json_message_on_every_route(
    jp_fetch: Any, jp_serverapp: Any, nexus_services: Any, forbidden: list[str]
) -> None:
    route_values = await path_values(jp_fetch, nexus_services)
    problems: list[str] = []
    for tpl, verb, op in body_routes(jp_serverapp):
        path = fill(tpl, route_values)
        for name, (payload, errors) in MALFORMED.items():
            r = await send(jp_fetch, path, verb, payload)
            what = f"{verb.upper()} {tpl} with {name}"
            problems += check_error_reply(r.code, r.body, forbidden, what)
            if r.code not in (400, 413) or json.loads(r.body).get("error") not in errors:
                problems.append(f"{what}: HTTP {r.code} {r.body[:120]!r}, expected one of {errors}")
            elif r.code == 400 and not json.loads(r.body)["message"].strip():
                problems.append(f"{what}: an empty message")
        limit = op.max_body_bytes or 1024 * 1024
        r = await send(jp_fetch, path, verb, b'{"x": "' + b"a" * limit + b'"}')
        problems += check_error_reply(r.code, r.body, forbidden, f"{verb.upper()} {tpl} oversized")
        if r.code != 413:
            problems.append(f"{verb.upper()} {tpl} oversized: HTTP {r.code}, expected 413")
    assert not problems, "\n".join(problems)


async def test_wrongly_typed_fields_answer_400_naming_the_field_on_every_route(
    jp_fetch: Any, jp_serverapp: Any, nexus_services: Any, forbidden: list[str]
) -> None:
    route_values = await path_values(jp_fetch, nexus_services)
    problems: list[str] = []
    checked = 0
    for tpl, verb, op in body_routes(jp_serverapp):
        path = fill(tpl, route_values)
        base = EXAMPLES[(tpl, verb)][0] if (tpl, verb) in EXAMPLES else minimal_body(op.request)
        assert isinstance(base, dict), f"{verb} {tpl}: the auth example has no JSON body"
        for field in op.request.model_fields:
            for value in WRONG_VALUES:
                payload = {**base, field: value}
                try:
                    op.request.model_validate(payload)
                    continue  # a valid request: not what this test sends
                except ValidationError:
                    pass
                r = await send(jp_fetch, path, verb, json.dumps(payload).encode())
                checked += 1
                what = f"{verb.upper()} {tpl} with {field}={str(value)[:20]!r}"
                problems += check_error_reply(r.code, r.body, forbidden, what)
                reply = json.loads(r.body) if r.body.startswith(b"{") else {}
                if r.code != 400 or field not in reply.get("message", ""):
                    problems.append(f"{what}: HTTP {r.code} {r.body[:160]!r}, expected a 400 naming {field}")
    assert checked > 100 and not problems, "\n".join(problems)


# -- query strings -----------------------------------------------------------------------------------
HOSTILE_QUERY = {
    "q": "x" * 5000,
    "k": "abc",
    "limit": "1e999",
    "before_id": "-1",
    "since": "not-a-date",
    "until": "2026-13-45T99:00:00",
    "source": "../../etc/passwd",
    "path": "../../../etc/passwd",
    "user": "\x00",
    "action": "' OR 1=1 --",
    "commands": "maybe",
}


async def test_hostile_query_strings_never_break_a_get_route(
    jp_fetch: Any, jp_serverapp: Any, nexus_services: Any, forbidden: list[str]
) -> None:
    route_values = await path_values(jp_fetch, nexus_services)
    problems: list[str] = []
    for pattern, _handler, verbs in nexus_routes(jp_serverapp):
        tpl = template(pattern)
        if "get" not in verbs or tpl in (NOT_AN_ENDPOINT, "/nexus/api/v1/ws"):
            continue
        for name, value in HOSTILE_QUERY.items():
            r = await send(jp_fetch, fill(tpl, route_values), "get", None, params={name: value})
            what = f"GET {tpl}?{name}={value[:12]!r}"
            if tpl == "/nexus/mcp":  # the MCP transport answers in JSON-RPC, as its clients expect
                problems += mcp_error_reply(r.code, r.body, forbidden, what)
                continue
            problems += check_error_reply(r.code, r.body, forbidden, what)
    assert not problems, "\n".join(problems)


def mcp_error_reply(code: int, body: bytes, forbidden: list[str], what: str) -> list[str]:
    """An MCP refusal: a 4xx whose body is a JSON-RPC error with a message, leaking nothing."""
    text = body.decode("utf-8", "replace")
    problems = [f"{what}: {leak!r} in the reply" for leak in forbidden if leak in text]
    if not 400 <= code < 500:
        return [*problems, f"{what}: HTTP {code}"]
    try:
        error = json.loads(text)["error"]
    except (ValueError, KeyError, TypeError):
        return [*problems, f"{what}: not a JSON-RPC error: {text[:200]!r}"]
    if not error.get("message") or "Traceback" in text:
        problems.append(f"{what}: {text[:200]!r}")
    return problems


# -- paths -------------------------------------------------------------------------------------------
BAD_IDS = [
    "../../api/contents",
    "..%2F..%2Fapi%2Fcontents",
    "%2F%2Fevil",
    "1%20OR%201=1",
    "x" * 10_000,
    "%FF%FE",
    "%00",
    "%3Cscript%3Ealert(1)%3C%2Fscript%3E",
]
UNKNOWN = ["", "/", "/nope", "/status/", "/conversations/", "/ws/extra", "/openapi.json/../status"]


async def test_unknown_and_malformed_paths_answer_json_and_check_credentials_first(
    jp_fetch: Any, jp_serverapp: Any, nexus_services: Any, forbidden: list[str]
) -> None:
    route_values = await path_values(jp_fetch, nexus_services)
    paths = [f"/nexus/api/v1{u}" for u in UNKNOWN]
    for pattern, _handler, _verbs in nexus_routes(jp_serverapp):
        tpl = template(pattern)
        if "{" in tpl and tpl != NOT_AN_ENDPOINT:
            for bad in BAD_IDS:
                values = {k: bad for k in route_values if k in tpl}
                paths.append(fill(fill(tpl, values), route_values))
    problems: list[str] = []
    for path in paths:
        for verb in ("get", "post", "put", "patch", "delete"):
            body = b"{}" if verb in ("post", "put", "patch") else None
            what = f"{verb.upper()} {path[:70]}"
            anonymous = await send(jp_fetch, path, verb, body, headers={"Authorization": ""})
            problems += check_error_reply(anonymous.code, anonymous.body, forbidden, what + " (anonymous)")
            if anonymous.code != 403:
                problems.append(f"{what} without credentials: HTTP {anonymous.code}, expected 403")
            signed_in = await send(jp_fetch, path, verb, body)
            problems += check_error_reply(signed_in.code, signed_in.body, forbidden, what)
            if signed_in.code not in (404, 405) and not (path.endswith("/") and signed_in.code in (301, 302)):
                problems.append(f"{what}: HTTP {signed_in.code}, expected a JSON 404")
    assert not problems, "\n".join(problems[:40])


# -- the websocket -----------------------------------------------------------------------------------
# One valid frame per client frame type: each malformed variant starts from it.
VALID_FRAMES: dict[str, dict[str, Any]] = {
    "ping": {"type": "ping", "id": "p1"},
    "chat": {"type": "chat", "id": "c1", "text": "hello"},
    "cancel": {"type": "cancel", "id": "c1"},
    "complete": {"type": "complete", "id": "k1", "prefix": "x = "},
    "notebook.join": {"type": "notebook.join", "path": "shared.ipynb"},
    "notebook.leave": {"type": "notebook.leave", "path": "shared.ipynb"},
    "notebook.activity": {"type": "notebook.activity", "path": "shared.ipynb", "action": "ran"},
    "generate": {"type": "generate", "id": "g1", "prompt": "hello"},
    "agent.start": {"type": "agent.start", "id": "a1", "notebook": "shared.ipynb", "goal": "add a cell"},
    "agent.approval": {
        "type": "agent.approval",
        "run_id": "0123abcd",
        "step_id": "4567ef",
        "decision": "approve",
    },
    "agent.stop": {"type": "agent.stop", "run_id": "0123abcd"},
    "agent.undo": {"type": "agent.undo", "run_id": "0123abcd"},
}


def malformed_frames() -> list[tuple[str, str | bytes]]:
    """(description, frame) for every frame type: wrong types per field, deep nesting, oversized."""
    missing = set(NexusWebSocket.frame_types) - set(VALID_FRAMES)
    assert not missing, f"frame types without a valid example (add them to VALID_FRAMES): {missing}"
    frames: list[tuple[str, str | bytes]] = [
        ("not JSON", "{oops"),
        ("binary", bytes(range(256))),
        ("nested 100,000 levels", DEEP.decode()),
        ("a list", "[1, 2]"),
        ("a number", "42"),
        ("null", "null"),
        ("no type", json.dumps({"id": "x"})),
        ("type is a list", json.dumps({"type": ["chat"]})),
        ("type is an object", json.dumps({"type": {"$ne": 1}})),
        ("unknown type", json.dumps({"type": "teleport", "id": "t"})),
    ]
    for kind, model in NexusWebSocket.frame_types.items():
        base = VALID_FRAMES[kind]
        frames.append(
            (f"{kind} nested 100 levels", json.dumps({**base, "extra": json.loads("[" * 100 + "]" * 100)}))
        )
        frames.append((f"{kind} with an unknown field", json.dumps({**base, "zzz": 1})))
        for field in model.model_fields:
            if field == "type":
                continue
            frames.append(
                (f"{kind} without {field}", json.dumps({k: v for k, v in base.items() if k != field}))
            )
            for value in WRONG_VALUES:
                frames.append((f"{kind} | {field}={str(value)[:20]!r}", json.dumps({**base, field: value})))
    out = []
    for name, frame in frames:
        try:
            data = json.loads(frame)
            model = NexusWebSocket.frame_types.get(data.get("type")) if isinstance(data, dict) else None
            if model is not None:
                model.model_validate(data)
                continue  # valid: not what this test sends
        except (ValueError, TypeError, RecursionError, ValidationError):
            pass
        out.append((name, frame))
    return out


async def test_every_malformed_frame_gets_an_error_frame_and_the_socket_stays_open(
    jp_ws_fetch: Any, forbidden: list[str]
) -> None:
    ws: WebSocketClientConnection = await jp_ws_fetch("nexus/api/v1/ws")
    problems: list[str] = []
    frames = malformed_frames()
    assert len(frames) > 100
    for name, frame in frames:
        await ws.write_message(frame, binary=isinstance(frame, bytes))
        raw = await asyncio.wait_for(ws.read_message(), 30)
        if raw is None:
            pytest.fail(f"{name}: the server dropped the socket (close code {ws.close_code})")
        reply = json.loads(raw)
        if reply.get("type") != "error" or not reply.get("message"):
            problems.append(f"{name}: {raw[:120]!r}")
        problems += [f"{name}: the error frame contains {s[:12]!r}..." for s in forbidden if s in str(raw)]
        if " | " in name:  # a wrongly typed field: the message names it
            field = name.split(" | ", 1)[1].split("=", 1)[0]
            if field not in reply.get("message", ""):
                problems.append(f"{name}: the message {reply.get('message')!r} does not name {field}")
    await ws.write_message(json.dumps({"type": "ping", "id": "still-here"}))
    pong = json.loads(await asyncio.wait_for(ws.read_message(), 30))
    assert pong["type"] == "pong" and pong["id"] == "still-here"
    ws.close()
    assert not problems, "\n".join(problems)


async def test_an_oversized_frame_is_refused_and_a_huge_one_closes_with_1009(
    jp_ws_fetch: Any, nexus_services: Any
) -> None:
    limit = nexus_services.config.max_ws_frame_bytes
    ws: WebSocketClientConnection = await jp_ws_fetch("nexus/api/v1/ws")
    await ws.write_message(json.dumps({"type": "ping", "pad": "x" * (limit + 1)}))
    reply = json.loads(await asyncio.wait_for(ws.read_message(), 30))
    assert reply["type"] == "error" and reply["error"] == "frame_too_large" and "limit" in reply["message"]
    await ws.write_message(json.dumps({"type": "ping"}))
    assert json.loads(await asyncio.wait_for(ws.read_message(), 30))["type"] == "pong"

    await ws.write_message("x" * (4 * limit + 1))  # past what the server reads at all
    assert await asyncio.wait_for(ws.read_message(), 30) is None
    assert ws.close_code == 1009


# -- overload ------------------------------------------------------------------------------------------
class TestBurst:
    @pytest.fixture
    def jp_server_config(self, nexus_config: Any) -> dict[str, Any]:
        """The shipped rate limits and engine queue."""
        return nexus_config()

    async def test_a_burst_of_completions_gets_only_answers_supersessions_or_retry_after(
        self,
        jp_fetch: Any,  # starts the HTTP server this test's own client talks to
        jp_http_port: int,
        jp_base_url: str,
        jp_auth_header: dict[str, str],
        local_engine: Any,
    ) -> None:
        """60 POST /complete from one user, 20 in flight at a time: every answer is a completion, a 409
        (a newer completion of the same user replaced it), or a 429 / 503 that says when to retry."""
        client = AsyncHTTPClient(force_instance=True, max_clients=20)
        url = f"http://127.0.0.1:{jp_http_port}{jp_base_url.rstrip('/')}/nexus/api/v1/complete"
        gate = asyncio.Semaphore(20)

        async def one(i: int) -> Any:
            body = json.dumps({"prefix": f"def f{i}(x):\n    return ", "max_tokens": 8})
            async with gate:
                return await client.fetch(
                    HTTPRequest(url, method="POST", body=body, headers=jp_auth_header, request_timeout=300),
                    raise_error=False,
                )

        try:
            replies = await asyncio.gather(*(one(i) for i in range(60)))
        finally:
            client.close()
        outcomes: Counter[str] = Counter()
        for r in replies:
            data = json.loads(r.body)
            if r.code == 200:
                assert data["completion"] is not None
                outcomes["200"] += 1
                continue
            assert set(data) == {"error", "message", "request_id"}, data
            outcomes[f"{r.code} {data['error']}"] += 1
            if r.code in (429, 503):
                assert r.headers.get("Retry-After", "").isdigit(), (r.code, data)
            else:
                assert (r.code, data["error"]) == (409, "superseded"), (r.code, data)
        print("burst outcomes:", dict(outcomes))
        assert outcomes["200"] >= 1 and outcomes["409 superseded"] >= 1, outcomes
