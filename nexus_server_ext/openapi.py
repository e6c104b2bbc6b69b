"""The OpenAPI 3 document, generated from the registered handlers and their pydantic models.

Nothing here is written by hand per endpoint: a route without ``operations``
metadata fails the tests, and request/response schemas come straight from the
models the handlers parse and emit, so the document cannot drift.

The websocket's frames are schemas too (``ClientFrame``: what a handler's
``frame_types`` read; ``ServerFrame``: its ``server_frame_types``), and so are the
payloads of the NEXUS events on Jupyter's event bus (``event_schemas/``): the
frontend's types are generated from this document (``labextension/openapi.json``).
Request bodies and client frames are described as the server reads them (fields
with a default may be left out); replies and server frames as the server writes
them, which is every field.
"""

from __future__ import annotations

import re
from typing import Any, get_args

import yaml
from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaMode, models_json_schema
from pydantic_core import core_schema

from ._version import __version__
from .api_models import ErrorReply
from .events import schema_files

_GROUP = re.compile(r"\(\?P<(?P<name>[a-zA-Z_]+)>[^)]*\)")
REF = "#/components/schemas/{model}"

# Keys of a jupyter_events schema that are not JSON Schema (``$id`` becomes ``x-nexus-event``).
_EVENT_ONLY_KEYS = ("$id", "version", "personal-data")


class _SchemaGenerator(GenerateJsonSchema):
    """In a reply every field is present (the server dumps defaults too), so each one is required."""

    def field_is_required(
        self,
        field: core_schema.ModelField | core_schema.DataclassField | core_schema.TypedDictField,
        total: bool,
    ) -> bool:
        if self.mode == "serialization":
            return field.get("serialization_exclude_if") is None and not field.get("serialization_exclude")
        return super().field_is_required(field, total)


def path_template(pattern: str) -> tuple[str, list[str]]:
    """``/conversations/(?P<conversation_id>[0-9a-f]{32})`` -> ``/conversations/{conversation_id}``."""
    names = [m.group("name") for m in _GROUP.finditer(pattern)]
    return _GROUP.sub(lambda m: "{" + m.group("name") + "}", pattern).strip("^$"), names


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return _ref_name(model.__name__)


def _ref_name(name: str) -> dict[str, str]:
    return {"$ref": REF.format(model=name)}


def _error_responses(op: Any, has_body: bool) -> dict[str, Any]:
    err = {"content": {"application/json": {"schema": _ref(ErrorReply)}}}
    out = {"403": {"description": "Not signed in, or not allowed.", **err}}
    if has_body:
        out["400"] = {"description": "The body is not valid JSON or does not match the schema.", **err}
        out["413"] = {"description": "The body is larger than this endpoint accepts.", **err}
    if op.rate_class:
        out["429"] = {"description": "Too many requests; see `Retry-After`.", **err}
    return out


def _frame_union(frames: list[type[BaseModel]], description: str) -> dict[str, Any]:
    """A ``oneOf`` of frame models told apart by their ``type``."""
    mapping = {
        kind: REF.format(model=frame.__name__)
        for frame in frames
        for kind in get_args(frame.model_fields["type"].annotation)
    }
    return {
        "description": description,
        "oneOf": [_ref(frame) for frame in frames],
        "discriminator": {"propertyName": "type", "mapping": mapping},
    }


def event_schemas() -> dict[str, dict[str, Any]]:
    """Each NEXUS event's payload, named from its id: ``.../voice/command/v1`` -> ``VoiceCommandEvent``."""
    found: dict[str, dict[str, Any]] = {}
    for path in schema_files():
        schema = yaml.safe_load(path.read_text(encoding="utf-8"))
        schema_id = schema["$id"]
        area = schema_id.split("://", 1)[-1].split("/")[1:-1]
        name = "".join(part.title() for part in area) + "Event"
        found[name] = {
            "x-nexus-event": schema_id,
            **{key: value for key, value in schema.items() if key not in _EVENT_ONLY_KEYS},
        }
    return found


def build_openapi(handlers: list[tuple[str, Any]], base_url: str = "/") -> dict[str, Any]:
    replies: set[type[BaseModel]] = {ErrorReply}
    requests: set[type[BaseModel]] = set()
    client_frames: list[type[BaseModel]] = []
    server_frames: list[type[BaseModel]] = []
    paths: dict[str, Any] = {}
    for pattern, handler in handlers:
        if not getattr(handler, "in_openapi", True):
            continue
        template, params = path_template(pattern)
        item: dict[str, Any] = {}
        for verb, op in handler.operations.items():
            operation: dict[str, Any] = {
                "summary": op.summary,
                "operationId": f"{handler.__name__.removesuffix('Handler')}_{verb}",
                "tags": [handler.auth_resource.split(":", 1)[-1]],
                "x-nexus-resource": handler.auth_resource,
                "security": [{"jupyterToken": []}],
            }
            if op.description:
                operation["description"] = op.description
            if params:
                operation["parameters"] = [
                    {"name": p, "in": "path", "required": True, "schema": {"type": "string"}} for p in params
                ]
            if op.request is not None:
                requests.add(op.request)
                operation["requestBody"] = {
                    "required": True,
                    "content": {"application/json": {"schema": _ref(op.request)}},
                }
            success: dict[str, Any] = {"description": op.summary}
            if op.response is not None:
                replies.add(op.response)
                success["content"] = {"application/json": {"schema": _ref(op.response)}}
            operation["responses"] = {str(op.status): success, **_error_responses(op, op.request is not None)}
            frames = getattr(handler, "frame_types", None)
            if verb == "get" and frames:
                client_frames += [f for f in frames.values() if f not in client_frames]
                server_frames += [f for f in handler.server_frame_types if f not in server_frames]
                operation["x-nexus-frames"] = {
                    "client": _ref_name("ClientFrame"),
                    "server": _ref_name("ServerFrame"),
                }
            item[verb] = operation
        paths[template] = item

    modes: list[tuple[type[BaseModel], JsonSchemaMode]] = [
        *((m, "validation") for m in sorted(requests | set(client_frames), key=lambda m: m.__name__)),
        *((m, "serialization") for m in sorted(replies | set(server_frames), key=lambda m: m.__name__)),
    ]
    _, schema = models_json_schema(modes, ref_template=REF, schema_generator=_SchemaGenerator)
    schemas: dict[str, Any] = schema.get("$defs", {})
    if client_frames:
        schemas["ClientFrame"] = _frame_union(client_frames, "A frame the client sends on the websocket.")
        schemas["ServerFrame"] = _frame_union(server_frames, "A frame the server sends on the websocket.")
    schemas.update(event_schemas())
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "NEXUS API",
            "version": __version__,
            "description": "The NEXUS Jupyter server extension. Authenticate as for any Jupyter API "
            "(`Authorization: token <token>`, or the Jupyter session cookie with XSRF).",
        },
        "servers": [{"url": base_url.rstrip("/") or "/"}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"jupyterToken": {"type": "apiKey", "in": "header", "name": "Authorization"}},
        },
    }
