"""Binder's build, without Docker: a fresh venv, binder/requirements.txt, binder/postBuild, then the
getting-started notebook on the "Python 3 (NEXUS)" kernel that postBuild installed.

This is the slow test of the area (a fresh environment with llama.cpp, onnxruntime and chromadb, and
no PyTorch; pip's cache and the local wheel indexes keep it to minutes). repo2docker runs the same two
steps in the same order.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "kernel"))
from kernel_helpers import fast_routing_file  # noqa: E402


def run(cmd: list[str], env: dict[str, str], cwd: Path, timeout: float) -> str:
    proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{cmd} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


@pytest.mark.timeout(2700)
def test_binder_build_installs_nexus_and_runs_the_getting_started_notebook(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(dist), str(ROOT)],
        dict(os.environ),
        ROOT,
        900,
    )
    [wheel] = dist.glob("nexus_jupyter-*.whl")

    env_dir = tmp_path / "binder-env"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    home = tmp_path / "home"
    home.mkdir()
    env = {
        **os.environ,
        "PATH": f"{env_dir / 'bin'}:{os.environ['PATH']}",
        "HOME": str(home),
        "NEXUS_WHEEL": str(wheel),
        "VIRTUAL_ENV": str(env_dir),
        "PIP_NO_COMPILE": "1",  # byte-compiling the libraries is much of an install's time and tests nothing
        # the developer's pip cache (HOME changes below): llama-cpp-python compiles for minutes otherwise
        "PIP_CACHE_DIR": os.environ.get("PIP_CACHE_DIR") or str(Path.home() / ".cache" / "pip"),
    }
    for key in ("PYTHONPATH", "JUPYTER_PATH", "JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR"):
        env.pop(key, None)
    run(
        [str(python), "-m", "pip", "install", "-r", str(ROOT / "binder" / "requirements.txt")], env, ROOT, 900
    )
    run(["bash", str(ROOT / "binder" / "postBuild")], env, ROOT, 1800)

    # The CPU path needs no PyTorch: Binder's image gets none (several hundred MB and minutes saved).
    absent = run(
        [str(python), "-c", "import importlib.util as u; print(u.find_spec('torch') is None)"], env, ROOT, 60
    )
    assert absent.strip() == "True", "postBuild installed torch"

    kernels = json.loads(run([str(python), "-m", "jupyter", "kernelspec", "list", "--json"], env, home, 120))
    assert kernels["kernelspecs"]["nexus-python3"]["spec"]["display_name"] == "Python 3 (NEXUS)"
    assert (home / ".jupyter" / "jupyter_server_config.py").exists()

    env["NEXUS_TRANSPORT"] = "in-process"
    env["NEXUS_ROUTING_FILE"] = str(fast_routing_file(tmp_path))
    out = tmp_path / "executed.ipynb"
    script = textwrap.dedent(
        f"""
        import nbformat
        from nbclient import NotebookClient
        nb = nbformat.read({str(ROOT / "binder/notebooks/01-getting-started.ipynb")!r}, as_version=4)
        NotebookClient(nb, timeout=900, resources={{"metadata": {{"path": {str(tmp_path)!r}}}}}).execute()
        nbformat.write(nb, {str(out)!r})
        """
    )
    run([str(python), "-c", script], env, home, 1800)
    nb = json.loads(out.read_text())
    assert nb["metadata"]["kernelspec"]["name"] == "nexus-python3"
    shown = json.dumps([c.get("outputs", []) for c in nb["cells"] if c["cell_type"] == "code"])
    assert "answers come from in-process" in shown
    assert "mean = total / count" in shown and "SmolLM2-135M-Instruct" in shown
    assert str(env_dir) in run(
        [str(python), "-c", "import nexus_kernel; print(nexus_kernel.__file__)"], env, home, 60
    )
