"""``/status``: components, storage and the model chain per task."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .base import ApiModel

# -- status -----------------------------------------------------------------------------------------
ComponentState = Literal["ok", "degraded", "unavailable"]


class ComponentStatus(ApiModel):
    name: str
    state: ComponentState
    detail: str = ""
    install_hint: str | None = Field(
        default=None, description="What to install or configure to make this component available."
    )


class StorageStatus(ApiModel):
    backend: Literal["sqlite", "postgresql"] | str
    url: str = Field(description="The database URL with any password hidden; a SQLite file by its name only.")
    revision: str | None
    healthy: bool


class ModelRef(ApiModel):
    provider: str
    model: str


class TaskRouting(ApiModel):
    task: str
    chain: list[ModelRef]


class StatusReply(ApiModel):
    name: Literal["nexus"] = "nexus"
    version: str
    user: str
    storage: StorageStatus
    components: list[ComponentStatus]
    models: list[TaskRouting]
