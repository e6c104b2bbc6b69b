"""The project manager: create projects from templates, give them an environment and a kernel, and git.

Projects are folders under the Jupyter server root, written through the
ContentsManager; NEXUS remembers them in the ``projects`` table (owner,
template, environment, kernel). The environment is built by the task
scheduler (kind ``venv``) so a slow install never blocks a request, and its
progress shows up like any other task.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from traitlets import Bool, Unicode
from traitlets.config import LoggingConfigurable

from ..store.database import Database
from ..store.models import Project
from ..tasks import TaskContext, TaskScheduler
from .git import GitRepo
from .paths import PathRefused, check_name, resolve_in_root, slug
from .templates import TEMPLATES, write_template
from .venv import check_requirements, create_environment, write_kernel_spec

VENV_TASK = "venv"


class ProjectNotFound(LookupError):
    pass


class ProjectExists(ValueError):
    pass


class ProjectManager(LoggingConfigurable):
    venv_folder = Unicode(".venv", help="Folder inside each project that holds its virtual environment.").tag(
        config=True
    )
    host_packages = Bool(
        True,
        help="Let project environments import the server's packages after their own (so ipykernel needs "
        "no download). Turn off for sealed environments; then list ipykernel in the dependencies.",
    ).tag(config=True)
    init_git = Bool(True, help="Make each new project a git repository with an initial commit.").tag(
        config=True
    )

    def __init__(
        self,
        database: Database,
        scheduler: TaskScheduler,
        root_dir: str,
        contents_manager: Any,
        kernel_spec_dir: str,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.database = database
        self.scheduler = scheduler
        self.root_dir = root_dir
        self.contents_manager = contents_manager
        self.kernel_spec_dir = Path(kernel_spec_dir)
        scheduler.register(VENV_TASK, self._build_environment)

    def resolve(self, relative: str) -> tuple[Path, str]:
        return resolve_in_root(self.root_dir, relative)

    async def create(
        self,
        user_id: int,
        username: str,
        name: str,
        template: str,
        path: str | None = None,
        venv: bool = False,
        dependencies: list[str] | None = None,
    ) -> tuple[Project, str | None]:
        """Create the project; returns it and the id of its environment task (if one was asked for)."""
        name = check_name(name)
        if template not in TEMPLATES:
            raise ValueError(f"unknown template {template!r}; choose one of {', '.join(TEMPLATES)}")
        requirements = check_requirements(dependencies or [])
        if requirements and not venv:
            raise ValueError("dependencies are installed into the project's environment: set venv to true")
        real, rel = self.resolve(path or name)
        if not rel:
            raise PathRefused("a project cannot be the server root itself")
        if real.exists():
            raise ProjectExists(f"{rel} already exists")
        await write_template(self.contents_manager, TEMPLATES[template], rel, name)
        if self.init_git:
            repo = self.repo_at(real, username)
            await repo.init()
            (real / ".gitignore").write_text(f"{self.venv_folder}/\n__pycache__/\n.ipynb_checkpoints/\n")
            await repo.commit(f"Create {name} from the {template} template")

        def add(session: Session) -> Project:
            project = Project(user_id=user_id, name=name, path=rel, template=template)
            session.add(project)
            session.flush()
            return project

        project = await self.database.run(add)
        task_id = None
        if venv:
            task = await self.scheduler.submit(
                user_id, VENV_TASK, {"project_id": project.id, "dependencies": requirements}
            )
            task_id = task.id
        return project, task_id

    async def list(self, user_id: int) -> list[Project]:
        def query(session: Session) -> list[Project]:
            stmt = select(Project).where(Project.user_id == user_id).order_by(Project.created_at.desc())
            return list(session.scalars(stmt))

        return await self.database.run(query)

    async def get(self, user_id: int, project_id: str) -> Project:
        def query(session: Session) -> Project:
            project = session.get(Project, project_id)
            if project is None or project.user_id != user_id:
                raise ProjectNotFound(project_id)
            return project

        return await self.database.run(query)

    def folder(self, project: Project) -> Path:
        """The project's folder, re-checked against the root (it may have become a symlink since)."""
        real, _ = self.resolve(project.path)
        if not real.is_dir():
            raise ProjectNotFound(project.id)
        return real

    def repo_at(self, folder: Path, username: str) -> GitRepo:
        return GitRepo(
            folder, author=username or "NEXUS user", email=f"{slug(username or 'nexus')}@nexus.local"
        )

    async def repo(self, project: Project, username: str) -> GitRepo:
        return self.repo_at(self.folder(project), username)

    # -- the environment task -------------------------------------------------------------------------
    async def _build_environment(self, ctx: TaskContext) -> dict[str, Any]:
        project = await self.get(ctx.user_id or 0, str(ctx.payload.get("project_id", "")))
        folder = self.folder(project)
        requirements = check_requirements(list(ctx.payload.get("dependencies", [])))
        venv = folder / self.venv_folder
        if venv.exists():  # a retry after an interrupted build starts clean
            shutil.rmtree(venv)
        python = await create_environment(venv, requirements, ctx.progress, host_packages=self.host_packages)
        kernel_name = f"nexus-{slug(project.path)}"[:64].replace("_", "-")
        write_kernel_spec(self.kernel_spec_dir / kernel_name, python, f"Python ({project.name})", folder)

        def save(session: Session) -> None:
            row = session.get(Project, project.id)
            if row is not None:
                row.venv_path = f"{project.path}/{self.venv_folder}"
                row.kernel_name = kernel_name

        await self.database.run(save)
        return {
            "kernel_name": kernel_name,
            "python": str(python.relative_to(folder)),
            "installed": requirements,
        }
