"""``/tasks``: the caller's background jobs: list, read, cancel, retry."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

from jupyter_server.auth.decorator import authorized
from tornado import web

from ..api_models import TaskList, TaskOut
from ..errors import NexusError
from .base import NexusHandler, Operation

if TYPE_CHECKING:
    from ..store.models import Task

T = TypeVar("T")
TASK_ID = r"(?P<task_id>[0-9a-f]{32})"


def task_out(task: Task) -> TaskOut:
    return TaskOut.model_validate(
        {name: getattr(task, name) for name in TaskOut.model_fields}, from_attributes=False
    )


async def found(call: Callable[[], Awaitable[T]]) -> T:
    from ..tasks import TaskError, TaskNotFound  # loaded by now (deferred services)

    try:
        return await call()
    except TaskNotFound:
        raise NexusError(404, "not_found", "There is no task with this id.") from None
    except TaskError as exc:
        raise NexusError(409, "conflict", str(exc)) from None


class TasksHandler(NexusHandler):
    auth_resource = "nexus:tasks"
    operations = {"get": Operation("The caller's background tasks, newest first.", response=TaskList)}

    @web.authenticated
    @authorized
    async def get(self) -> None:
        uid = await self.user_id()
        tasks = await self.nexus.scheduler.list(uid)
        self.write_model(TaskList(tasks=[task_out(t) for t in tasks]))


class TaskHandler(NexusHandler):
    auth_resource = "nexus:tasks"
    operations = {"get": Operation("One task: state, progress, result or error.", response=TaskOut)}

    @web.authenticated
    @authorized
    async def get(self, task_id: str) -> None:
        uid = await self.user_id()
        self.write_model(task_out(await found(lambda: self.nexus.scheduler.get(uid, task_id))))


class TaskCancelHandler(NexusHandler):
    auth_resource = "nexus:tasks"
    operations = {
        "post": Operation(
            "Cancel a pending or running task (a finished task is returned unchanged).", response=TaskOut
        )
    }

    @web.authenticated
    @authorized
    async def post(self, task_id: str) -> None:
        uid = await self.user_id()
        self.write_model(task_out(await found(lambda: self.nexus.scheduler.cancel(uid, task_id))))


class TaskRetryHandler(NexusHandler):
    auth_resource = "nexus:tasks"
    operations = {
        "post": Operation(
            "Run a finished, failed, cancelled or interrupted task again, as a new task.",
            response=TaskOut,
            status=201,
        )
    }

    @web.authenticated
    @authorized
    async def post(self, task_id: str) -> None:
        uid = await self.user_id()
        self.write_model(task_out(await found(lambda: self.nexus.scheduler.retry(uid, task_id))), 201)


default_handlers = [
    (r"/nexus/api/v1/tasks", TasksHandler),
    (rf"/nexus/api/v1/tasks/{TASK_ID}", TaskHandler),
    (rf"/nexus/api/v1/tasks/{TASK_ID}/cancel", TaskCancelHandler),
    (rf"/nexus/api/v1/tasks/{TASK_ID}/retry", TaskRetryHandler),
]
