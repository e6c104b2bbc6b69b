"""Every Jupyter server start imports NEXUS: it must stay cheap."""

from __future__ import annotations

import re
import subprocess
import sys

HEAVY = ("torch", "transformers", "chromadb", "faster_whisper", "ctranslate2", "llama_cpp", "sqlalchemy")


def test_import_takes_under_100ms_and_loads_nothing_heavy() -> None:
    code = "import sys, nexus_server_ext; print(','.join(m for m in sys.modules))"
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True, check=True
    )
    loaded = set(proc.stdout.strip().split(","))
    assert not [m for m in HEAVY if m in loaded]
    cumulative = [
        int(m.group(1))
        for m in re.finditer(r"import time:\s+\d+ \|\s+(\d+) \| nexus_server_ext$", proc.stderr, re.M)
    ]
    assert cumulative and cumulative[0] < 100_000, f"import nexus_server_ext took {cumulative} us"


def test_loading_the_extension_app_does_not_import_models() -> None:
    code = (
        "import sys, nexus_server_ext; nexus_server_ext._jupyter_server_extension_points(); "
        "print(','.join(m for m in sys.modules))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(proc.stdout.strip().split(","))
    # Not even SQLAlchemy or Alembic: the stores are built on first use (tests/test_server_start.py
    # checks a whole running server).
    assert not [m for m in (*HEAVY, "alembic", "nexus_server_ext.store.models") if m in loaded]
