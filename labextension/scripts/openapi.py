"""Write the NEXUS server's OpenAPI document to ``labextension/openapi.json`` (``make api-types``).

The frontend's server types (``src/schema.ts``) are generated from that checked-in
file by ``jlpm build:types`` (openapi-typescript), which every build and test runs,
so a build needs no Python. Run this script whenever a model in
``nexus_server_ext/api_models/``, a handler or an event schema changes;
``tests/handlers/test_openapi_types.py`` fails while the file is stale.

    python labextension/scripts/openapi.py          # write the file
    python labextension/scripts/openapi.py --check  # exit 1 when it is stale
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

OUTPUT = Path(__file__).resolve().parents[1] / "openapi.json"
REGENERATE = "make api-types"


def document_text() -> str:
    """The document as the file holds it: keys sorted, two-space indent, a final newline."""
    from nexus_server_ext.handlers import all_handlers
    from nexus_server_ext.openapi import build_openapi

    document = build_openapi(all_handlers(), "/")
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    text = document_text()
    if "--check" in argv:
        current = OUTPUT.read_text(encoding="utf-8") if OUTPUT.exists() else ""
        if current != text:
            print(f"{OUTPUT.name} is stale: run `{REGENERATE}`", file=sys.stderr)
            return 1
        return 0
    OUTPUT.write_text(text, encoding="utf-8")
    print(f"wrote labextension/{OUTPUT.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
