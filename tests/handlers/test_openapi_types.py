"""The frontend's server types come from ``labextension/openapi.json``: it must be the server's document now.

``jlpm build:types`` turns the checked-in file into ``labextension/src/schema.ts`` (no Python at
build time), so a model, handler or event schema changed without regenerating the file would leave
the frontend compiling against the old shapes. Regenerate with ``make api-types``.
"""

from __future__ import annotations

import importlib.util
import json
import typing
from pathlib import Path
from types import ModuleType

from openapi_spec_validator import validate
from pydantic import BaseModel

from nexus_server_ext import api_models
from nexus_server_ext.handlers.ws import NexusWebSocket

LABEXTENSION = Path(__file__).resolve().parents[2] / "labextension"
SCRIPT = LABEXTENSION / "scripts" / "openapi.py"


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("nexus_openapi_script", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_checked_in_document_is_current() -> None:
    script = load_script()
    expected = script.document_text()
    current = (LABEXTENSION / "openapi.json").read_text(encoding="utf-8")
    assert current == expected, (
        "labextension/openapi.json is stale (the frontend's types are generated from it): "
        f"run `{script.REGENERATE}` (python labextension/scripts/openapi.py) and commit the file"
    )


def test_document_is_valid_and_has_the_frontend_types() -> None:
    spec = json.loads((LABEXTENSION / "openapi.json").read_text(encoding="utf-8"))
    validate(spec)
    schemas = spec["components"]["schemas"]
    for name in ("ClientFrame", "ServerFrame", "ChatFrame", "ChatDoneFrame", "StatusReply", "TasksEvent"):
        assert name in schemas, name
    ws = spec["paths"]["/nexus/api/v1/ws"]["get"]["x-nexus-frames"]
    assert ws["server"]["$ref"].endswith("/ServerFrame")
    # A reply lists every field as required (the server always sends it); a request only those without
    # a default, so the frontend may leave the others out.
    assert set(schemas["ChatDoneFrame"]["required"]) == set(schemas["ChatDoneFrame"]["properties"])
    assert schemas["ChatFrame"]["required"] == ["type", "id", "text"]
    mapping = schemas["ServerFrame"]["discriminator"]["mapping"]
    assert mapping["chat.delta"] == mapping["complete.delta"] == "#/components/schemas/DeltaFrame"


def test_every_frame_model_is_in_a_union() -> None:
    """A new ``*Frame`` model must be read by the websocket or listed in its ``server_frame_types``."""
    frames = {
        model
        for name in api_models.__all__
        if name.endswith("Frame")
        and isinstance(model := getattr(api_models, name), type)
        and issubclass(model, BaseModel)
    }
    client = set(NexusWebSocket.frame_types.values())
    server = set(NexusWebSocket.server_frame_types)
    assert frames == client | server
    assert not client & server
    for frame in server:
        assert typing.get_origin(frame.model_fields["type"].annotation) is typing.Literal, frame
