"""The model catalogue, pulls from the Hugging Face Hub, and the model in use (the model dashboard)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .base import ApiModel

PullState = Literal["running", "verifying", "done", "failed", "cancelled"]

MODEL_NAME = r"^[a-z0-9][a-z0-9._-]{0,63}$"


class CatalogModelOut(ApiModel):
    """One model NEXUS can use locally: the bundled one, or a GGUF to pull from the Hub."""

    name: str = Field(
        description="What `jupyter nexus models pull` and `use` take (`bundled` for the bundled one)."
    )
    title: str
    bundled: bool = Field(description="Ships with NEXUS (never pulled).")
    repo_id: str = Field(description="The Hugging Face Hub repository (empty for the bundled model).")
    filename: str
    size_bytes: int = Field(description="The file's size (as listed on the Hub until it is pulled).")
    license: str
    hardware: str = Field(description="Where it fits, in a few words: `a laptop CPU`, `a GPU node`...")
    memory: str
    why: str = Field(description="Why it fits there, and what it is good and bad at.")
    fill_in_the_middle: bool = Field(
        description="Trained with fill-in-the-middle tokens (inline completion)."
    )
    pulled: bool = Field(description="Downloaded and verified (always true for the bundled model).")
    partial_bytes: int = Field(description="Bytes an unfinished pull left; the next pull resumes from them.")
    in_use: bool = Field(description="This server's local model for chat, code generation and completion.")


class ModelPullOut(ApiModel):
    """A pull: a download running in a child process of the server, then (``use``) the switch to it."""

    id: str
    name: str
    state: PullState
    done_bytes: int = Field(description="Bytes of the file on disk (a resumed pull starts above 0).")
    total_bytes: int = Field(description="The file's size on the Hub; 0 until the Hub has answered.")
    resumed_from_bytes: int = Field(
        description="Where this pull resumed a partial download (0: from the start)."
    )
    use: bool = Field(description="Switch to the model once it is pulled and verified.")
    in_use: bool = Field(description="The switch happened: the server's local model is this one now.")
    error: str | None = Field(description="Why the pull failed, in plain words.")
    note: str | None = Field(description="What happened after the pull (or why the server did not switch).")


class ModelCatalogReply(ApiModel):
    models: list[CatalogModelOut] = Field(description="The bundled model first, then the catalogue.")
    active: str = Field(
        description="The server's local model: a catalogue name, `bundled`, or `custom` (a routing file "
        "chosen by configuration names another model)."
    )
    switchable: bool = Field(
        description="Pulls and Use switch this server's model (false when an administrator's routing file "
        "is in use: NEXUS does not rewrite it)."
    )
    note: str | None = Field(description="Why the model cannot be switched here, when it cannot.")
    pulls: list[ModelPullOut] = Field(description="This server's pulls since it started, newest first.")


class ModelPullRequest(ApiModel):
    name: str = Field(pattern=MODEL_NAME, description="A catalogue name, e.g. `qwen2.5-coder-1.5b`.")
    use: bool = Field(True, description="Switch to the model once it is pulled and verified.")


class ActiveModelRequest(ApiModel):
    name: str = Field(pattern=MODEL_NAME, description="A pulled catalogue model, or `bundled`.")


class ActiveModelOut(ApiModel):
    active: str = Field(description="The local model now in use: a catalogue name or `bundled`.")
    note: str = Field(description="What changed, in plain words.")
