"""``/models/catalog``, ``/models/pulls`` and ``/models/active``: the model dashboard's pull, Cancel and Use.

Reading the catalogue (with this server's pulls and their progress, which the
dashboard polls) needs ``nexus:models``, as ``GET /models`` does. Pulling,
cancelling and switching the model change what every request of the server
uses, so they need ``write`` on ``nexus:admin``, like setting the server-wide API
keys; ``GET /models/pulls/{id}`` belongs to the same job and needs ``read`` there.
"""

from __future__ import annotations

from jupyter_server.auth.decorator import authorized
from tornado import web

from ..ai.model_catalog import BUNDLED, BUNDLED_SIZE_BYTES, BUNDLED_SOURCE, BUNDLED_WHY, CATALOG
from ..ai.model_pull import partial_bytes, pulled_model
from ..ai.model_pulls import ModelPulls, Pull
from ..api_models import (
    ActiveModelOut,
    ActiveModelRequest,
    CatalogModelOut,
    ModelCatalogReply,
    ModelPullOut,
    ModelPullRequest,
)
from ..errors import NexusError
from .base import NexusHandler, Operation

PULL_ID = r"(?P<pull_id>[0-9a-f]{12})"


def pull_out(pull: Pull) -> ModelPullOut:
    return ModelPullOut(
        id=pull.id,
        name=pull.name,
        state=pull.state,
        done_bytes=pull.done_bytes,
        total_bytes=pull.total_bytes,
        resumed_from_bytes=pull.resumed_from_bytes,
        use=pull.use,
        in_use=pull.in_use,
        error=pull.error,
        note=pull.note,
    )


class ModelPullsHandler(NexusHandler):
    """What every handler of the area shares: the service (absent: NEXUS runs without it)."""

    uses_deferred = False  # nothing here reads the stores or the core

    @property
    def pulls(self) -> ModelPulls:
        service = self.nexus.model_pulls
        if service is None:
            raise NexusError(503, "unavailable", "Model pulls are not available on this server.")
        return service


class CatalogHandler(ModelPullsHandler):
    auth_resource = "nexus:models"
    operations = {
        "get": Operation(
            "The models NEXUS can run locally: the bundled one and the catalogue to pull from the Hugging "
            "Face Hub, with the hardware each fits and why, what is pulled, which is in use, and the "
            "pulls running on this server.",
            response=ModelCatalogReply,
        )
    }

    @web.authenticated
    @authorized
    async def get(self) -> None:
        pulls = self.pulls
        active = pulls.active(self.nexus.routing)
        data_dir = pulls.data_dir
        models = [
            CatalogModelOut(
                name=BUNDLED,
                title=f"{BUNDLED_SOURCE.split(':', 1)[1]} (bundled)",
                bundled=True,
                repo_id="",
                filename="",
                size_bytes=BUNDLED_SIZE_BYTES,
                license="Apache-2.0",
                hardware="any machine, offline",
                memory="about 200 MB of free memory",
                why=BUNDLED_WHY,
                fill_in_the_middle=False,
                pulled=True,
                partial_bytes=0,
                in_use=active == BUNDLED,
            )
        ]
        for model in CATALOG:
            pulled = pulled_model(data_dir, model.name)
            models.append(
                CatalogModelOut(
                    name=model.name,
                    title=model.title,
                    bundled=False,
                    repo_id=model.repo_id,
                    filename=model.filename,
                    size_bytes=pulled.size if pulled else model.size_bytes,
                    license=model.license,
                    hardware=model.hardware,
                    memory=model.memory,
                    why=model.why,
                    fill_in_the_middle=model.fill_in_the_middle,
                    pulled=pulled is not None,
                    partial_bytes=partial_bytes(data_dir, model),
                    in_use=active == model.name,
                )
            )
        reply = ModelCatalogReply(
            models=models,
            active=active,
            switchable=pulls.switchable,
            note=pulls.not_switchable_note,
            pulls=[pull_out(p) for p in pulls.recent()],
        )
        self.write_model(reply)


class PullsHandler(ModelPullsHandler):
    auth_resource = "nexus:admin"
    operations = {
        "post": Operation(
            "Pull a catalogue model from the Hugging Face Hub in a child process (resuming an unfinished "
            "pull of it), verify its SHA-256, and with `use` switch to it. Answers at once; follow the "
            "progress with `GET /models/pulls/{pull_id}`. A pull of the same model already running is "
            "returned instead of a second one.",
            request=ModelPullRequest,
            response=ModelPullOut,
            status=202,
            max_body_bytes=16 * 1024,
            description="Requires `write` permission on `nexus:admin`.",
        )
    }

    @web.authenticated
    @authorized
    async def post(self) -> None:
        body = self.read_model(ModelPullRequest)
        pull = self.pulls.start(body.name, body.use, self.nexus)
        self.write_model(pull_out(pull), status=202)


class PullHandler(ModelPullsHandler):
    auth_resource = "nexus:admin"
    operations = {
        "get": Operation(
            "A pull's progress: bytes on disk of the file's size, then verifying, done (and switched), "
            "failed (why) or cancelled.",
            response=ModelPullOut,
            description="Requires `read` permission on `nexus:admin`.",
        ),
        "delete": Operation(
            "Cancel a pull: its child process ends; the partial file stays, and the next pull of the model "
            "resumes from it.",
            response=ModelPullOut,
            description="Requires `write` permission on `nexus:admin`.",
        ),
    }

    @web.authenticated
    @authorized
    async def get(self, pull_id: str) -> None:
        self.write_model(pull_out(self.pulls.get(pull_id)))

    @web.authenticated
    @authorized
    async def delete(self, pull_id: str) -> None:
        self.write_model(pull_out(await self.pulls.cancel(pull_id)))


class ActiveModelHandler(ModelPullsHandler):
    auth_resource = "nexus:admin"
    operations = {
        "put": Operation(
            "Switch the local model for chat, code generation and completion to a pulled model, or back "
            "to `bundled`: the user routing file is rewritten and the running server uses it from the next "
            "request.",
            request=ActiveModelRequest,
            response=ActiveModelOut,
            max_body_bytes=16 * 1024,
            description="Requires `write` permission on `nexus:admin`. 409 when the model is not pulled, or "
            "when the server's routing file is chosen by configuration.",
        )
    }

    @web.authenticated
    @authorized
    async def put(self) -> None:
        body = self.read_model(ActiveModelRequest)
        note = self.pulls.use(body.name, self.nexus)
        self.write_model(ActiveModelOut(active=self.pulls.active(self.nexus.routing), note=note))


default_handlers = [
    (r"/nexus/api/v1/models/catalog", CatalogHandler),
    (r"/nexus/api/v1/models/pulls", PullsHandler),
    (rf"/nexus/api/v1/models/pulls/{PULL_ID}", PullHandler),
    (r"/nexus/api/v1/models/active", ActiveModelHandler),
]
