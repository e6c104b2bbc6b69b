"""`jupyter nexus models pull`: the real download code against a local stand-in for the Hugging Face Hub.

The stand-in (``support/hub_standin.py``) answers the Hub's model-info API and
serves the file with ``Range`` support; ``HF_ENDPOINT`` points at it. The file
is a fake GGUF of 24 MiB (huggingface_hub writes in 10 MiB chunks, so a cut
download keeps its first 10 MiB); nothing here loads it as a model.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from support.hub_standin import HubStandIn, fake_gguf

from nexus_server_ext.ai import user_routing
from nexus_server_ext.ai.model_catalog import find_model
from nexus_server_ext.ai.model_pull import (
    ChecksumMismatch,
    PullError,
    model_folder,
    partial_bytes,
    pull,
    pulled_model,
)
from nexus_server_ext.ai.routing import load_routing
from nexus_server_ext.ai.user_routing import (
    SWITCHED_TASKS,
    active_model,
    current_routing_file,
    user_routing_file,
    write_user_routing,
)

MODEL = find_model("qwen2.5-coder-0.5b")
MiB = 1024 * 1024


@pytest.fixture(scope="module")
def gguf() -> bytes:
    return fake_gguf()


@pytest.fixture
def hub(gguf: bytes, monkeypatch: pytest.MonkeyPatch) -> Iterator[HubStandIn]:
    with HubStandIn({(MODEL.repo_id, MODEL.filename): gguf}) as standin:
        monkeypatch.setenv("HF_ENDPOINT", standin.url)
        for name in ("HF_TOKEN", "HF_HUB_OFFLINE", "NEXUS_ROUTING_FILE"):
            monkeypatch.delenv(name, raising=False)
        yield standin


def run_cli(
    *args: str, data_dir: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The command line as a user runs it (``python -m`` runs the same ``main`` as ``jupyter-nexus``)."""
    command = [sys.executable, "-m", "nexus_server_ext.cli", "--data-dir", str(data_dir), *args]
    return subprocess.run(
        command, capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})}
    )


def test_pull_reports_progress_and_keeps_the_verified_file(
    hub: HubStandIn, gguf: bytes, tmp_path: Path
) -> None:
    hub.delay_s = 0.0005  # about 0.8 s in all: progress arrives while it runs
    events: list[tuple[str, int, int]] = []
    pulled = pull(MODEL, tmp_path, progress=lambda *e: events.append(e))

    assert pulled.path == model_folder(tmp_path, MODEL.name) / MODEL.filename
    assert pulled.path.read_bytes() == gguf
    assert pulled.sha256 == hashlib.sha256(gguf).hexdigest()
    assert events[0] == ("start", 0, len(gguf))
    downloads = [done for phase, done, total in events if phase == "download"]
    assert len(downloads) >= 2 and downloads == sorted(downloads) and downloads[-1] == len(gguf)
    assert [phase for phase, _, _ in events[-2:]] == ["verify", "done"]
    assert pulled_model(tmp_path, MODEL.name) == pulled
    assert not list(model_folder(tmp_path, MODEL.name).glob("*.part"))
    assert [r.range for r in hub.requests] == [None]

    again = pull(MODEL, tmp_path)  # already there with the Hub's SHA-256: nothing is downloaded
    assert again == pulled and len(hub.requests) == 1


def test_a_cut_download_resumes_from_the_partial_file(hub: HubStandIn, gguf: bytes, tmp_path: Path) -> None:
    hub.cut_at = 15 * MiB  # the connection drops there, and the network stays down
    with pytest.raises(PullError, match=r"stopped at 41%.*HTTP 503.*Pull again to resume"):
        pull(MODEL, tmp_path)
    kept = partial_bytes(tmp_path, MODEL)
    assert kept == 10 * MiB  # what huggingface_hub had written when the connection dropped
    assert pulled_model(tmp_path, MODEL.name) is None

    hub.down = False
    events: list[tuple[str, int, int]] = []
    pulled = pull(MODEL, tmp_path, progress=lambda *e: events.append(e))

    assert events[0] == ("start", kept, len(gguf))
    second = hub.requests[-1]
    assert second.range == f"bytes={kept}-"
    assert second.sent == len(gguf) - kept < len(gguf)
    assert pulled.path.read_bytes() == gguf


def test_a_checksum_mismatch_is_refused_and_deleted(hub: HubStandIn, tmp_path: Path) -> None:
    hub.corrupt = True  # other bytes than the SHA-256 the API lists
    with pytest.raises(ChecksumMismatch, match=r"does not match the Hub's checksum.*it was deleted"):
        pull(MODEL, tmp_path)
    folder = model_folder(tmp_path, MODEL.name)
    assert not list(folder.glob("*.gguf*"))
    assert pulled_model(tmp_path, MODEL.name) is None

    result = run_cli("models", "pull", MODEL.name, data_dir=tmp_path)
    assert result.returncode == 1
    assert "does not match the Hub's checksum" in result.stderr
    assert not user_routing_file(tmp_path).exists()  # routing unchanged
    assert active_model(tmp_path).name == "bundled"


def test_without_lfs_facts_in_the_listing_the_files_etag_gives_the_checksum(
    hub: HubStandIn, gguf: bytes, tmp_path: Path
) -> None:
    hub.lfs_in_api = False
    assert pull(MODEL, tmp_path).sha256 == hashlib.sha256(gguf).hexdigest()
    hub.corrupt = True  # the etag is the SHA-256 of the bytes the API describes: other bytes are refused
    with pytest.raises(ChecksumMismatch):
        pull(MODEL, tmp_path / "other")


def test_one_pull_of_a_model_at_a_time(hub: HubStandIn, tmp_path: Path) -> None:
    from filelock import FileLock

    folder = model_folder(tmp_path, MODEL.name)
    folder.mkdir(parents=True)
    with FileLock(str(folder / "pull.lock")), pytest.raises(PullError, match="already being pulled"):
        pull(MODEL, tmp_path)


def test_unreachable_hub_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens there
    with pytest.raises(PullError, match=r"could not ask http://127.0.0.1:9 .*check the network"):
        pull(MODEL, tmp_path)


def test_cli_pull_switches_routing_and_use_bundled_goes_back(
    hub: HubStandIn, gguf: bytes, tmp_path: Path
) -> None:
    result = run_cli("models", "pull", MODEL.name, data_dir=tmp_path)
    assert result.returncode == 0, result.stderr
    path = model_folder(tmp_path, MODEL.name) / MODEL.filename
    routing_path = user_routing_file(tmp_path)
    assert result.stdout.splitlines() == [
        f"Pulled {MODEL.name} (24.0 MB, SHA-256 verified)",
        f"  file: {path}",
        f"NEXUS now routes chat, code generation, code analysis, completion and the agent to {MODEL.name}",
        f"  routing file: {routing_path}",
        "  A running Jupyter server switches when restarted (or at once with Use in the model dashboard).",
        "Back to the bundled model: jupyter nexus models use bundled",
    ]
    assert result.stderr.splitlines()[:2] == [
        f"Pulling {MODEL.name}: {MODEL.title} from {MODEL.repo_id} (Apache-2.0)",
        "Downloading 24.0 MB",
    ]
    assert "100%  24.0 MB of 24.0 MB" in result.stderr
    assert result.stderr.rstrip().endswith("Checking the SHA-256 checksum")

    routing = load_routing(routing_path)  # valid: the server would accept it
    assert routing.providers["local"]["model"] == str(path)
    assert routing.providers["gateway"]["kind"] == "openai"  # the rest of the shipped routing is kept
    for task in SWITCHED_TASKS:
        assert [s.model for s in routing.chain(task) if s.provider == "local"] == [MODEL.name]
    # Embeddings stay on MiniLM (the gateway's, then the bundled copy): one memory, one model.
    assert [s.model for s in routing.chain("embeddings")] == ["all-MiniLM-L6-v2", "all-MiniLM-L6-v2"]
    assert current_routing_file(tmp_path) == str(routing_path)

    listed = run_cli("models", "list", data_dir=tmp_path).stdout
    assert f"  * {MODEL.name:<20} 24.0 MB   {MODEL.hardware:<40} pulled" in listed
    assert "    bundled" in listed

    refused = run_cli("models", "remove", MODEL.name, data_dir=tmp_path)
    assert refused.returncode == 1 and "is in use" in refused.stderr

    back = run_cli("models", "use", "bundled", data_dir=tmp_path)
    assert (
        back.stdout.splitlines()[0]
        == "NEXUS now uses the bundled model (bundled:SmolLM2-135M-Instruct) again"
    )
    assert not routing_path.exists() and current_routing_file(tmp_path) == ""

    hub.down = True  # `use` needs no network
    again = run_cli("models", "use", MODEL.name, data_dir=tmp_path)
    assert again.returncode == 0 and "routes chat" in again.stdout
    assert active_model(tmp_path).name == MODEL.name


def test_cli_resumes_after_ctrl_c_like_cancel(hub: HubStandIn, gguf: bytes, tmp_path: Path) -> None:
    """SIGTERM (the dashboard's Cancel) stops a pull and keeps what it has; the next pull resumes."""
    hub.delay_s = 0.005
    command = [sys.executable, "-m", "nexus_server_ext.cli", "--data-dir", str(tmp_path)]
    child = subprocess.Popen(
        [*command, "models", "pull", MODEL.name, "--json", "--no-use"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    for line in child.stdout:
        if '"download"' in line:
            break
    child.terminate()
    out, _ = child.communicate(timeout=30)
    assert child.returncode == 1
    assert '"event": "error"' in out and "resumes from there" in out
    assert partial_bytes(tmp_path, MODEL) >= 10 * MiB

    hub.delay_s = 0
    result = run_cli("models", "pull", MODEL.name, "--no-use", data_dir=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines()[1].startswith("Resuming at ")
    assert hub.requests[-1].range is not None and hub.requests[-1].sent < len(gguf)
    assert f"Use it: jupyter nexus models use {MODEL.name}" in result.stdout
    assert not user_routing_file(tmp_path).exists()


def test_jupyter_finds_the_nexus_subcommand(tmp_path: Path) -> None:
    """`jupyter nexus ...` runs `jupyter-nexus` from PATH: the console script pyproject declares."""
    pyproject = (Path(__file__).resolve().parents[2] / "pyproject.toml").read_text()
    assert 'jupyter-nexus = "nexus_server_ext.cli:main"' in pyproject
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "jupyter-nexus"  # what pip writes for the console script
    script.write_text(
        f"#!{sys.executable}\nimport sys\nfrom nexus_server_ext.cli import main\nsys.exit(main())\n"
    )
    script.chmod(0o755)
    jupyter = Path(sys.executable).with_name("jupyter")
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run(
        [str(jupyter), "nexus", "--data-dir", str(tmp_path / "data"), "models", "list"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "  * bundled " in result.stdout and f"    {MODEL.name} " in result.stdout


def test_an_administrators_routing_file_wins_and_the_cli_says_so(tmp_path: Path) -> None:
    other = tmp_path / "team-routing.yaml"
    result = run_cli("models", "list", data_dir=tmp_path, env={"NEXUS_ROUTING_FILE": str(other)})
    assert f"this server's routing file is set to {other}" in result.stderr


# -- the user routing file on its own --------------------------------------------------------------
def fake_pulled(tmp_path: Path) -> object:
    folder = model_folder(tmp_path, MODEL.name)
    folder.mkdir(parents=True)
    (folder / MODEL.filename).write_bytes(b"GGUF")
    digest = hashlib.sha256(b"GGUF").hexdigest()
    (folder / "pulled.json").write_text(
        f'{{"name": "{MODEL.name}", "repo_id": "{MODEL.repo_id}", "filename": "{MODEL.filename}", '
        f'"commit": "main", "sha256": "{digest}", "size": 4}}'
    )
    pulled = pulled_model(tmp_path, MODEL.name)
    assert pulled is not None
    return pulled


def test_a_vanished_pulled_file_falls_back_to_the_bundled_model(tmp_path: Path) -> None:
    pulled = fake_pulled(tmp_path)
    write_user_routing(tmp_path, pulled)  # type: ignore[arg-type]
    assert current_routing_file(tmp_path) == str(user_routing_file(tmp_path))
    (model_folder(tmp_path, MODEL.name) / MODEL.filename).unlink()
    assert current_routing_file(tmp_path) == ""  # the shipped routing: the bundled model answers


def test_the_user_routing_file_follows_a_changed_shipped_routing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pulled = fake_pulled(tmp_path)
    write_user_routing(tmp_path, pulled)  # type: ignore[arg-type]
    shipped = yaml.safe_load(user_routing.default_routing_file().read_text())
    shipped["tasks"]["completion"]["limits"]["max_tokens"] = 99  # an upgrade changed the shipped file
    upgraded = tmp_path / "shipped-routing.yaml"
    upgraded.write_text(yaml.safe_dump(shipped))
    monkeypatch.setattr(user_routing, "default_routing_file", lambda: upgraded)

    routing = load_routing(current_routing_file(tmp_path))
    assert routing.limits("completion").max_tokens == 99
    assert routing.chain("completion")[-1].model == MODEL.name


def test_a_routing_yaml_nexus_did_not_write_is_left_alone(tmp_path: Path) -> None:
    user_routing_file(tmp_path).write_text("providers: {}\n")
    assert current_routing_file(tmp_path) == ""
    assert not user_routing.use_bundled(tmp_path)
    assert user_routing_file(tmp_path).exists()
