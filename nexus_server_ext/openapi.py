"""The OpenAPI 3 document, generated from the registered handlers and their pydantic models.

Nothing here is written by hand per endpoint: a route without ``operations``
metadata fails the tests, and request/response schemas come straight from the
models the handlers parse and emit, so the document cannot drift.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from ._version import __version__
from .api_models import ErrorReply

_GROUP = re.compile(r"\(\?P<(?P<name>[a-zA-Z_]+)>[^)]*\)")
REF = "#/components/schemas/{model}"


def path_template(pattern: str) -> tuple[str, list[str]]:
    """``/conversations/(?P<conversation_id>[0-9a-f]{32})`` -> ``/conversations/{conversation_id}``."""
    names = [m.group("name") for m in _GROUP.finditer(pattern)]
    return _GROUP.sub(lambda m: "{" + m.group("name") + "}", pattern).strip("^$"), names


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": REF.format(model=model.__name__)}


def _error_responses(op: Any, has_body: bool) -> dict[str, Any]:
    err = {"content": {"application/json": {"schema": _ref(ErrorReply)}}}
    out = {"403": {"description": "Not signed in, or not allowed.", **err}}
    if has_body:
        out["400"] = {"description": "The body is not valid JSON or does not match the schema.", **err}
        out["413"] = {"description": "The body is larger than this endpoint accepts.", **err}
    if op.rate_class:
        out["429"] = {"description": "Too many requests; see `Retry-After`.", **err}
    return out


def build_openapi(handlers: list[tuple[str, Any]], base_url: str = "/") -> dict[str, Any]:
    models: set[type[BaseModel]] = {ErrorReply}
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
                models.add(op.request)
                operation["requestBody"] = {
                    "required": True,
                    "content": {"application/json": {"schema": _ref(op.request)}},
                }
            success: dict[str, Any] = {"description": op.summary}
            if op.response is not None:
                models.add(op.response)
                success["content"] = {"application/json": {"schema": _ref(op.response)}}
            operation["responses"] = {str(op.status): success, **_error_responses(op, op.request is not None)}
            item[verb] = operation
        paths[template] = item

    _, schema = models_json_schema(
        [(m, "serialization") for m in sorted(models, key=lambda m: m.__name__)], ref_template=REF
    )
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
            "schemas": schema.get("$defs", {}),
            "securitySchemes": {"jupyterToken": {"type": "apiKey", "in": "header", "name": "Authorization"}},
        },
    }
