"""Size of the built labextension (what every JupyterLab page load may fetch), as JSON.

Run after ``jlpm build:prod`` (or ``jlpm build``; development builds are larger). Prints the
total of ``nexus_server_ext/labextension/static`` and its gzip size, without source maps (browsers
fetch maps only with the developer tools open), next to JupyterLab's own core bundle in the same
environment as the baseline a user already downloads.
"""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STATIC = ROOT / "nexus_server_ext" / "labextension" / "static"


def sizes(folder: Path) -> dict[str, int]:
    files = [p for p in folder.rglob("*") if p.is_file() and not p.name.endswith(".map")]
    raw = sum(p.stat().st_size for p in files)
    zipped = sum(len(gzip.compress(p.read_bytes(), 6)) for p in files if p.suffix in (".js", ".css", ".json"))
    return {"files": len(files), "bytes": raw, "gzip_bytes": zipped}


def main() -> int:
    if not STATIC.is_dir():
        print(json.dumps({"error": f"{STATIC} is missing: build the labextension first"}))
        return 1
    import jupyterlab

    core = Path(jupyterlab.__file__).parent / "static"
    report = {"nexus_labextension": sizes(STATIC)}
    if core.is_dir():
        report["jupyterlab_core_baseline"] = sizes(core)
        report["ratio_to_core"] = round(
            report["nexus_labextension"]["bytes"] / report["jupyterlab_core_baseline"]["bytes"], 4
        )
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
