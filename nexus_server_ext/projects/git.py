"""Git for a project, through the real ``git`` binary (status, diff, log, commit).

Commands run as subprocesses without a shell, with prompts disabled, so a
request can never make the server wait on a password prompt or run anything
but git. The commit message can be written by the AI (``CommitMessageWriter``)
and edited by the user before ``commit``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

log = logging.getLogger(__name__)

_MAX_OUTPUT = 2 * 1024 * 1024


class GitError(RuntimeError):
    """git failed or is missing; the message is git's own (no paths outside the project)."""


@dataclass
class FileStatus:
    path: str
    index: str
    worktree: str


@dataclass
class GitStatus:
    branch: str | None
    clean: bool
    files: list[FileStatus] = field(default_factory=list)


@dataclass
class Commit:
    sha: str
    author: str
    email: str
    date: str
    subject: str


class GitRepo:
    def __init__(self, path: Path, author: str = "NEXUS user", email: str = "nexus@localhost") -> None:
        self.path = path
        self.author = author
        self.email = email

    async def run(self, *args: str, check: bool = True, stdin: bytes | None = None) -> str:
        git = shutil.which("git")
        if git is None:
            raise GitError("git is not installed on the server")
        env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_OPTIONAL_LOCKS": "0", "LC_ALL": "C"}
        # Identity only as a fallback: a user's own git config wins where it exists.
        ident = (
            []
            if await self._has_identity(git, env)
            else ["-c", f"user.name={self.author}", "-c", f"user.email={self.email}"]
        )
        proc = await asyncio.create_subprocess_exec(
            git,
            *ident,
            "-C",
            str(self.path),
            *args,
            stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
        )
        out, err = await proc.communicate(stdin)
        if check and proc.returncode != 0:
            raise GitError(
                err.decode("utf-8", "replace").strip().replace(str(self.path), ".") or "git failed"
            )
        return out[:_MAX_OUTPUT].decode("utf-8", "replace")

    _identity: bool | None = None

    def _fallback_identity(self) -> list[str]:
        return ["-c", f"user.name={self.author}", "-c", f"user.email={self.email}"]

    async def _has_identity(self, git: str, env: dict[str, str]) -> bool:
        if self._identity is None:
            proc = await asyncio.create_subprocess_exec(
                git,
                "-C",
                str(self.path),
                "config",
                "user.email",
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.DEVNULL,
                env=env,
            )
            out, _ = await proc.communicate()
            self._identity = proc.returncode == 0 and bool(out.strip())
        return self._identity

    async def is_repo(self) -> bool:
        return (self.path / ".git").exists()

    async def init(self) -> None:
        await self.run("init", "-q", "-b", "main")

    async def status(self) -> GitStatus:
        out = await self.run("status", "--porcelain=v1", "-b", "-z", "--untracked-files=all")
        entries = out.split("\0")
        branch = None
        files = []
        skip = False
        for entry in entries:
            if skip:
                skip = False
                continue
            if not entry:
                continue
            if entry.startswith("## "):
                head = entry[3:]
                branch = re.split(r"\.\.\.| ", head.removeprefix("No commits yet on "), maxsplit=1)[0]
                continue
            x, y, path = entry[0], entry[1], entry[3:]
            files.append(FileStatus(path=path, index=x, worktree=y))
            skip = x in "RC"  # renames carry the old path as the next NUL-separated field
        return GitStatus(branch=branch, clean=not files, files=files)

    async def has_commits(self) -> bool:
        return bool((await self.run("rev-parse", "--verify", "-q", "HEAD", check=False)).strip())

    async def diff(self, staged_only: bool = False) -> str:
        """The change a commit would record: tracked changes plus untracked files shown as new."""
        if staged_only:
            return await self.run("diff", "--cached", "--no-color")
        base = ["HEAD"] if await self.has_commits() else []
        parts = [await self.run("diff", "--no-color", *base)] if base else []
        status = await self.status()
        untracked = [f.path for f in status.files if f.index == "?"]
        if not base:
            tracked = [f.path for f in status.files if f.index != "?"]
            untracked += tracked
        for path in untracked:
            # --no-index exits 1 when files differ, which is the point here.
            parts.append(
                await self.run("diff", "--no-color", "--no-index", "--", "/dev/null", path, check=False)
            )
        return "".join(parts)

    async def numstat(self) -> list[tuple[int, int, str]]:
        """(added, deleted, path) for the change a commit would record."""
        out: list[tuple[int, int, str]] = []
        for line in (await self.diff()).splitlines():
            if line.startswith("+++ b/"):
                out.append((0, 0, line[6:]))
            elif out and line.startswith("+") and not line.startswith("+++"):
                out[-1] = (out[-1][0] + 1, out[-1][1], out[-1][2])
            elif out and line.startswith("-") and not line.startswith("---"):
                out[-1] = (out[-1][0], out[-1][1] + 1, out[-1][2])
        return out

    async def log(self, limit: int = 20) -> list[Commit]:
        if not await self.has_commits():
            return []
        out = await self.run("log", f"-n{limit}", "--format=%H%x1f%an%x1f%ae%x1f%aI%x1f%s%x1e")
        commits = []
        for record in out.split("\x1e"):
            fields = record.strip().split("\x1f")
            if len(fields) == 5:
                commits.append(Commit(*fields))
        return commits

    async def commit(self, message: str, paths: list[str] | None = None) -> Commit:
        if paths:
            await self.run("add", "--", *paths)
        else:
            await self.run("add", "-A")
        if not (await self.run("diff", "--cached", "--name-only")).strip():
            raise GitError("nothing to commit: the working tree has no changes")
        await self.run("commit", "-q", "-F", "-", stdin=message.encode("utf-8"))
        return (await self.log(1))[0]


class CommitMessageWriter(Protocol):
    """Writes a commit message for a diff; the user edits it before committing."""

    async def write(self, diff: str, changes: list[tuple[int, int, str]]) -> str: ...


class DiffSummaryWriter:
    """The deterministic fallback: a subject naming what changed, and a body with per-file line counts."""

    async def write(self, diff: str, changes: list[tuple[int, int, str]]) -> str:
        if not changes:
            return "Update project"
        added = [p for a, d, p in changes if _is_new(diff, p)]
        changed = [p for _a, _d, p in changes if p not in added]
        verbs = []
        if added:
            verbs.append(f"Add {_names(added)}")
        if changed:
            verbs.append(f"{'update' if verbs else 'Update'} {_names(changed)}")
        subject = ", ".join(verbs)
        body = "\n".join(f"- {p}: +{a} -{d}" for a, d, p in changes)
        return f"{subject[:72]}\n\n{body}\n"


class PipelineCommitMessageWriter:
    """Asks the AI pipeline when there is one (``services.pipeline``), else the summary writer.

    The message comes from the ``code_analysis`` chain and is recorded as an interaction like every
    model call (intent ``commit_message``, for ``owner`` / ``user_id``); when no model answers, the
    deterministic summary is the suggestion, so a commit is never blocked on the model.
    """

    def __init__(
        self,
        services: Any,
        fallback: CommitMessageWriter | None = None,
        *,
        owner: str = "",
        user_id: int | None = None,
    ) -> None:
        self.services = services
        self.fallback = fallback or DiffSummaryWriter()
        self.owner = owner
        self.user_id = user_id

    async def write(self, diff: str, changes: list[tuple[int, int, str]]) -> str:
        pipeline = getattr(self.services, "pipeline", None)
        if pipeline is not None:
            from ..ai.types import ChatMessage

            prompt = (
                "Write a git commit message (a subject line under 72 characters, a blank line, then a "
                "short body) for this diff:\n\n" + diff[:12000]
            )
            try:
                result = await pipeline.generate(
                    "code_analysis",
                    messages=[ChatMessage("user", prompt)],
                    max_tokens=96,
                    intent="commit_message",
                    owner=self.owner,
                    user_id=self.user_id,
                )
                text = str(result.text).strip()
                if text:
                    return text
            except Exception:  # no model answered (recorded by the pipeline): the summary stands in
                log.info("NEXUS: no model wrote the commit message", exc_info=True)
        return await self.fallback.write(diff, changes)


def _is_new(diff: str, path: str) -> bool:
    return f"--- /dev/null\n+++ b/{path}" in diff


def _names(paths: list[str]) -> str:
    shown = [p.rsplit("/", 1)[-1] for p in paths[:3]]
    more = f" and {len(paths) - 3} more" if len(paths) > 3 else ""
    return ", ".join(shown) + more
