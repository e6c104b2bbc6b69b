"""``/projects``: create from a template (optionally with an environment and kernel), list, and git."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from jupyter_server.auth.decorator import authorized
from tornado import web

from ..api_models import (
    CommitMessageOut,
    GitCommitOut,
    GitCommitRequest,
    GitDiffOut,
    GitFileStatus,
    GitLogOut,
    GitStatusOut,
    ProjectCreate,
    ProjectCreated,
    ProjectList,
    ProjectOut,
    ProjectTemplateOut,
)
from ..errors import NexusError
from ..projects.git import GitError, GitRepo, PipelineCommitMessageWriter
from ..projects.paths import PathRefused
from ..projects.templates import TEMPLATES
from .base import NexusHandler, Operation

if TYPE_CHECKING:
    from ..store.models import Project

T = TypeVar("T")
PROJECT = r"/nexus/api/v1/projects/(?P<project_id>[0-9a-f]{32})"


def project_out(p: Project) -> ProjectOut:
    return ProjectOut(
        id=p.id,
        name=p.name,
        path=p.path,
        template=p.template,
        venv_path=p.venv_path,
        kernel_name=p.kernel_name,
        created_at=p.created_at,
    )


async def guarded(call: Callable[[], Awaitable[T]]) -> T:
    """Map project errors to clear 4xx replies (never a traceback)."""
    from ..projects.manager import ProjectExists, ProjectNotFound  # loaded by now (deferred services)

    try:
        return await call()
    except ProjectNotFound:
        raise NexusError(404, "not_found", "There is no project with this id.") from None
    except PathRefused as exc:
        raise NexusError(400, "path_refused", str(exc)) from None
    except ProjectExists as exc:
        raise NexusError(409, "exists", str(exc)) from None
    except GitError as exc:
        raise NexusError(409, "git_error", str(exc)) from None
    except ValueError as exc:
        raise NexusError(400, "invalid_request", str(exc)) from None


class ProjectsHandler(NexusHandler):
    auth_resource = "nexus:projects"
    operations = {
        "get": Operation("The caller's projects and the available templates.", response=ProjectList),
        "post": Operation(
            "Create a project from a template under the server root; with `venv`, an environment task "
            "installs `dependencies` and registers a kernel spec.",
            request=ProjectCreate,
            response=ProjectCreated,
            status=201,
            max_body_bytes=16 * 1024,
        ),
    }

    @web.authenticated
    @authorized
    async def get(self) -> None:
        projects = await self.nexus.projects.list(await self.user_id())
        templates = [
            ProjectTemplateOut(name=t.name, title=t.title, description=t.description)
            for t in TEMPLATES.values()
        ]
        self.write_model(ProjectList(projects=[project_out(p) for p in projects], templates=templates))

    @web.authenticated
    @authorized
    async def post(self) -> None:
        body = self.read_model(ProjectCreate)
        uid = await self.user_id()
        project, task_id = await guarded(
            lambda: self.nexus.projects.create(
                uid, self.username, body.name, body.template, body.path, body.venv, body.dependencies
            )
        )
        await self.nexus.audit.record_file_write(
            username=self.username, path=project.path, reason=f"project from template {project.template}"
        )
        self.write_model(ProjectCreated(project=project_out(project), task_id=task_id), 201)


class ProjectBase(NexusHandler):
    auth_resource = "nexus:projects"

    async def project(self, project_id: str) -> Project:
        uid = await self.user_id()
        return await guarded(lambda: self.nexus.projects.get(uid, project_id))

    async def git(self, project_id: str) -> GitRepo:
        project = await self.project(project_id)
        repo = await guarded(lambda: self.nexus.projects.repo(project, self.username))
        if not await repo.is_repo():
            raise NexusError(409, "not_a_repository", "This project is not a git repository.")
        return repo


class ProjectHandler(ProjectBase):
    operations = {"get": Operation("One project.", response=ProjectOut)}

    @web.authenticated
    @authorized
    async def get(self, project_id: str) -> None:
        self.write_model(project_out(await self.project(project_id)))


class GitStatusHandler(ProjectBase):
    operations = {"get": Operation("`git status` of the project.", response=GitStatusOut)}

    @web.authenticated
    @authorized
    async def get(self, project_id: str) -> None:
        repo = await self.git(project_id)
        status = await guarded(repo.status)
        files = [GitFileStatus(path=f.path, index=f.index, worktree=f.worktree) for f in status.files]
        self.write_model(GitStatusOut(branch=status.branch, clean=status.clean, files=files))


class GitDiffHandler(ProjectBase):
    operations = {
        "get": Operation("The uncommitted change (untracked files shown as new).", response=GitDiffOut)
    }

    @web.authenticated
    @authorized
    async def get(self, project_id: str) -> None:
        repo = await self.git(project_id)
        diff = await guarded(repo.diff)
        files = [p for _a, _d, p in await guarded(repo.numstat)]
        self.write_model(GitDiffOut(diff=diff, files=files))


class GitLogHandler(ProjectBase):
    operations = {"get": Operation("The last commits (`?limit=`, at most 200).", response=GitLogOut)}

    @web.authenticated
    @authorized
    async def get(self, project_id: str) -> None:
        try:
            limit = max(1, min(200, int(self.get_query_argument("limit", "20"))))
        except ValueError:
            raise NexusError(400, "invalid_request", "limit must be a number") from None
        repo = await self.git(project_id)
        commits = await guarded(lambda: repo.log(limit))
        self.write_model(GitLogOut(commits=[GitCommitOut(**c.__dict__) for c in commits]))


class CommitMessageHandler(ProjectBase):
    operations = {
        "post": Operation(
            "Suggest a commit message for the current change (the AI when available, else a summary).",
            response=CommitMessageOut,
            rate_class="chat",
        )
    }

    @web.authenticated
    @authorized
    async def post(self, project_id: str) -> None:
        repo = await self.git(project_id)
        diff = await guarded(repo.diff)
        if not diff.strip():
            raise NexusError(409, "git_error", "nothing to commit: the working tree has no changes")
        changes = await guarded(repo.numstat)
        writer = PipelineCommitMessageWriter(self.nexus, owner=self.username, user_id=await self.user_id())
        message = await writer.write(diff, changes)
        self.write_model(CommitMessageOut(message=message))


class GitCommitHandler(ProjectBase):
    operations = {
        "post": Operation(
            "Commit the change (all of it, or `paths`) with the given message.",
            request=GitCommitRequest,
            response=GitCommitOut,
            status=201,
            max_body_bytes=256 * 1024,
        )
    }

    @web.authenticated
    @authorized
    async def post(self, project_id: str) -> None:
        body = self.read_model(GitCommitRequest)
        project = await self.project(project_id)
        repo = await self.git(project_id)
        paths = [self.inside_project(project, repo.path, p) for p in body.paths] if body.paths else None
        commit = await guarded(lambda: repo.commit(body.message, paths))
        self.write_model(GitCommitOut(**commit.__dict__), 201)

    def inside_project(self, project: Project, folder: Path, path: str) -> str:
        """``path`` (relative to the project) checked against the root and the project folder."""
        try:
            real, _ = self.nexus.projects.resolve(f"{project.path}/{path}")
        except PathRefused as exc:
            raise NexusError(400, "path_refused", f"{path}: {exc}") from None
        if real != folder and folder not in real.parents:
            raise NexusError(400, "path_refused", f"{path}: the path leads outside the project")
        return real.relative_to(folder).as_posix()


default_handlers = [
    (r"/nexus/api/v1/projects", ProjectsHandler),
    (PROJECT, ProjectHandler),
    (rf"{PROJECT}/git/status", GitStatusHandler),
    (rf"{PROJECT}/git/diff", GitDiffHandler),
    (rf"{PROJECT}/git/log", GitLogHandler),
    (rf"{PROJECT}/git/commit-message", CommitMessageHandler),
    (rf"{PROJECT}/git/commit", GitCommitHandler),
]
