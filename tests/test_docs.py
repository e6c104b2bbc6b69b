"""The committed references match the code (regenerate with `make docs`)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"


def load_generator():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("nexus_docs_generate", DOCS / "generate.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", ["config.md", "api.md"])
def test_reference_docs_are_current(name: str) -> None:
    generator = load_generator()
    expected = generator.GENERATED[name]()
    assert (DOCS / name).read_text(encoding="utf-8") == expected, f"docs/{name} is stale: run `make docs`"
