"""The OpenAPI document is valid OpenAPI 3.1 and matches the models the handlers really use."""

from __future__ import annotations

import json
from typing import Any

from openapi_spec_validator import validate


async def test_openapi_document_is_valid_and_complete(jp_fetch: Any) -> None:
    spec = json.loads((await jp_fetch("nexus/api/v1/openapi.json")).body)
    validate(spec)
    post = spec["paths"]["/nexus/api/v1/conversations"]["post"]
    assert post["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/ConversationCreate"
    )
    create = spec["components"]["schemas"]["ConversationCreate"]
    assert create["properties"]["title"]["maxLength"] == 200
    assert "413" in post["responses"] and "403" in post["responses"]
    detail = spec["paths"]["/nexus/api/v1/conversations/{conversation_id}"]
    assert detail["get"]["parameters"][0]["name"] == "conversation_id"
    assert detail["delete"]["x-nexus-resource"] == "nexus:chat"
