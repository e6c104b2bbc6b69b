"""Projects through the API: templates via the ContentsManager, real git, and path refusals."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest


async def post(jp_fetch: Any, *path: str, body: Any, ok: bool = True) -> Any:
    return await jp_fetch(*path, method="POST", body=json.dumps(body), raise_error=ok)


async def create(jp_fetch: Any, **body: Any) -> dict[str, Any]:
    r = await post(jp_fetch, "nexus/api/v1/projects", body=body)
    assert r.code == 201
    return json.loads(r.body)


@pytest.fixture
def jp_server_config(nexus_config: Any) -> dict[str, Any]:
    """Routing whose code_analysis chain has no usable model, so commit messages use the summary."""
    import yaml

    from nexus_server_ext.ai.routing import default_routing_file

    routing = yaml.safe_load(default_routing_file().read_text())
    routing["tasks"]["code_analysis"]["chain"] = [{"provider": "gateway", "model": "nexus-local"}]
    return nexus_config(routing=yaml.safe_dump(routing))


async def test_data_analysis_project_from_template_with_git(jp_fetch: Any, jp_root_dir: Path) -> None:
    created = await create(jp_fetch, name="Sales Study", template="data-analysis")
    project = created["project"]
    assert project["path"] == "Sales Study" and created["task_id"] is None
    folder = jp_root_dir / "Sales Study"
    assert {p.name for p in folder.iterdir()} >= {"analysis.ipynb", "README.md", "data", ".git", ".gitignore"}
    notebook = json.loads((folder / "analysis.ipynb").read_text())
    assert notebook["nbformat"] == 4 and "".join(notebook["cells"][0]["source"]).startswith("# Sales Study")
    # The Jupyter contents API sees what was written through the ContentsManager.
    listing = json.loads((await jp_fetch("api/contents/Sales Study")).body)
    assert "analysis.ipynb" in {c["name"] for c in listing["content"]}

    listed = json.loads((await jp_fetch("nexus/api/v1/projects")).body)
    assert [p["id"] for p in listed["projects"]] == [project["id"]]
    assert {t["name"] for t in listed["templates"]} == {"data-analysis", "python-package"}

    base = f"nexus/api/v1/projects/{project['id']}/git"
    log = json.loads((await jp_fetch(f"{base}/log")).body)["commits"]
    assert len(log) == 1 and "data-analysis" in log[0]["subject"]
    status = json.loads((await jp_fetch(f"{base}/status")).body)
    assert status == {"branch": "main", "clean": True, "files": []}

    (folder / "README.md").write_text("# Sales Study\n\nNow with findings.\n")
    (folder / "data" / "q3.csv").write_text("x,y\n9,9\n")
    status = json.loads((await jp_fetch(f"{base}/status")).body)
    assert not status["clean"]
    assert {(f["path"], f["index"], f["worktree"]) for f in status["files"]} == {
        ("README.md", " ", "M"),
        ("data/q3.csv", "?", "?"),
    }
    diff = json.loads((await jp_fetch(f"{base}/diff")).body)
    assert "+Now with findings." in diff["diff"] and "+9,9" in diff["diff"]
    assert sorted(diff["files"]) == ["README.md", "data/q3.csv"]

    # No usable model for code_analysis here: the deterministic summary is the suggestion.
    suggestion = json.loads((await post(jp_fetch, f"{base}/commit-message", body={})).body)["message"]
    assert suggestion.splitlines()[0] == "Add q3.csv, update README.md"
    assert "- README.md: +2 -0" in suggestion or "- README.md: +" in suggestion

    edited = "Record the Q3 findings\n\nEdited by the user."
    r = await post(jp_fetch, f"{base}/commit", body={"message": edited, "paths": ["README.md"]})
    assert json.loads(r.body)["subject"] == "Record the Q3 findings"
    status = json.loads((await jp_fetch(f"{base}/status")).body)
    assert [f["path"] for f in status["files"]] == ["data/q3.csv"]  # only the named path was committed
    out = subprocess.run(
        ["git", "-C", str(folder), "log", "-1", "--format=%B"], capture_output=True, text=True
    )
    assert out.stdout.strip() == edited

    r = await post(jp_fetch, f"{base}/commit", body={"message": "m", "paths": ["../../etc/passwd"]}, ok=False)
    assert r.code == 400 and json.loads(r.body)["error"] == "path_refused"
    await post(jp_fetch, f"{base}/commit", body={"message": "the rest"})
    r = await post(jp_fetch, f"{base}/commit", body={"message": "again"}, ok=False)
    assert r.code == 409 and "nothing to commit" in json.loads(r.body)["message"]


async def test_python_package_template_passes_its_own_tests(jp_fetch: Any, jp_root_dir: Path) -> None:
    await create(jp_fetch, name="tiny-lib", template="python-package", path="libs/tiny")
    folder = jp_root_dir / "libs" / "tiny"
    assert (folder / "src" / "tiny_lib" / "__init__.py").exists()
    env = {**os.environ, "PYTHONPATH": str(folder / "src")}
    proc = subprocess.run(
        ["python", "-m", "pytest", "-q", "-p", "no:cacheprovider", str(folder / "tests")],
        capture_output=True, text=True, env=env, cwd=folder,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize(
    ("body", "code", "words"),
    [
        ({"name": "x", "path": "../outside"}, 400, "'..'"),
        ({"name": "x", "path": "/tmp/abs"}, 400, "absolute"),
        ({"name": "x", "path": ".config/x"}, 400, "hidden"),
        ({"name": "x", "path": "link/x"}, 400, "outside the server root"),
        ({"name": ".hidden"}, 400, "project name"),
        ({"name": "x", "template": "nope"}, 400, "unknown template"),
        ({"name": "x", "dependencies": ["six"]}, 400, "set venv"),
        ({"name": "x", "venv": True, "dependencies": ["--index-url=http://evil"]}, 400, "not a package"),
        ({"name": "x", "venv": True, "dependencies": ["pkg @ https://evil/x.whl"]}, 400, "URLs"),
        ({"name": "existing"}, 409, "already exists"),
        ({"name": 5}, 400, "name"),
    ],
)
async def test_bad_requests_are_refused_and_write_nothing(
    jp_fetch: Any, jp_root_dir: Path, tmp_path: Path, body: dict[str, Any], code: int, words: str
) -> None:
    outside = tmp_path / "outside-root"
    outside.mkdir()
    os.symlink(outside, jp_root_dir / "link")
    (jp_root_dir / "existing").mkdir()
    before = sorted(p.relative_to(jp_root_dir) for p in jp_root_dir.rglob("*"))
    r = await post(jp_fetch, "nexus/api/v1/projects", body=body, ok=False)
    reply = json.loads(r.body)
    assert r.code == code and words in reply["message"], reply
    assert "Traceback" not in reply["message"]
    assert sorted(p.relative_to(jp_root_dir) for p in jp_root_dir.rglob("*")) == before
    assert list(outside.iterdir()) == []
    assert json.loads((await jp_fetch("nexus/api/v1/projects")).body)["projects"] == []


async def test_other_users_projects_are_not_found(jp_fetch: Any, nexus_services: Any) -> None:
    uid = await nexus_services.users.ensure("someone-else")
    project, _ = await nexus_services.projects.create(uid, "someone-else", "theirs", "data-analysis")
    r = await jp_fetch("nexus/api/v1/projects", project.id, "git", "log", raise_error=False)
    assert r.code == 404


async def suggest(jp_fetch: Any, jp_root_dir: Path, name: str) -> str:
    """A new project with one changed file, and the commit message suggested for it."""
    created = await create(jp_fetch, name=name, template="data-analysis")
    (jp_root_dir / name / "README.md").write_text(f"# {name}\n\nA new finding.\n")
    base = f"nexus/api/v1/projects/{created['project']['id']}/git"
    return str(json.loads((await post(jp_fetch, f"{base}/commit-message", body={})).body)["message"])


def commit_message_rows(nexus_services: Any) -> list[Any]:
    from sqlalchemy import select

    from nexus_server_ext.store.models import Interaction

    query = select(Interaction).where(Interaction.intent == "commit_message")
    return list(nexus_services.database.call(lambda s: s.scalars(query).all()))


async def test_a_commit_message_no_model_wrote_is_recorded_too(
    jp_fetch: Any, jp_root_dir: Path, nexus_services: Any
) -> None:
    assert (await suggest(jp_fetch, jp_root_dir, "Quiet")).startswith("Update README.md")
    [row] = commit_message_rows(nexus_services)
    assert (row.task, row.outcome, row.fallback_path[0]["outcome"]) == (
        "code_analysis",
        "error",
        "unconfigured",
    )
    assert row.user_id is not None


class TestModelWrittenCommitMessage:
    @pytest.fixture
    def jp_server_config(self, nexus_config: Any) -> dict[str, Any]:
        return nexus_config()  # the shipped routing: the bundled model answers code_analysis

    async def test_the_model_writes_it_and_the_interaction_is_recorded(
        self, jp_fetch: Any, jp_root_dir: Path, nexus_services: Any, local_engine: Any
    ) -> None:
        message = await suggest(jp_fetch, jp_root_dir, "Notes")
        assert message.strip()
        [row] = commit_message_rows(nexus_services)
        assert (row.task, row.provider, row.outcome) == ("code_analysis", "local", "ok")
        assert row.user_id is not None and row.tokens_out > 0
