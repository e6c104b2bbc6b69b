"""``/notebooks``: a notebook's shared chat, and cells NEXUS adds to a notebook on the server.

Both follow the notebook's own access (``collab.access``): whoever cannot open
the notebook gets 403 here, whatever their NEXUS permissions.
"""

from __future__ import annotations

from jupyter_server.auth.decorator import authorized
from tornado import web

from ..api_models import ConversationDetail, MessageOut, NotebookCellInsert, NotebookCellInserted
from ..collab.access import check_notebook_access
from ..collab.documents import attribution
from ..errors import NexusError
from .base import NexusHandler, Operation
from .conversations import conversation_out


class NotebookChatHandler(NexusHandler):
    auth_resource = "nexus:chat"
    operations = {
        "get": Operation(
            "The shared chat of the notebook `?path=NOTEBOOK.ipynb`, with who asked each question.",
            response=ConversationDetail,
            description="Everyone who can open the notebook can read it (403 otherwise). Follow it live "
            "with the websocket frame `notebook.join`; post to it with a `chat` frame whose `notebook` "
            "is the path.",
        )
    }

    @web.authenticated
    @authorized
    async def get(self) -> None:
        path = await check_notebook_access(self, self.get_query_argument("path", ""))
        conversation = await self.nexus.conversations.notebook_chat(path, await self.user_id())
        _, messages = await self.nexus.conversations.notebook_chat_messages(path)
        self.write_model(
            ConversationDetail(
                **conversation_out(conversation, len(messages)).model_dump(),
                messages=[MessageOut.model_validate(m, from_attributes=True) for m in messages],
            )
        )


class NotebookCellsHandler(NexusHandler):
    auth_resource = "nexus:chat"
    operations = {
        "post": Operation(
            "Insert a cell into a notebook, attributed to the caller.",
            request=NotebookCellInsert,
            response=NotebookCellInserted,
            status=201,
            max_body_bytes=256 * 1024,
            rate_class="default",
            description="With real-time collaboration on and the notebook open, the cell goes into its "
            "shared document (every collaborator sees it at once; nothing they type is lost); otherwise "
            "into the file. The cell's `metadata.nexus` names who asked (`requested_by`). Needs write "
            "access to the notebook (403).",
        )
    }

    @web.authenticated
    @authorized
    async def post(self) -> None:
        body = self.read_model(NotebookCellInsert)
        path = await check_notebook_access(self, body.path, "write")
        user = self.current_user
        who = str(getattr(user, "display_name", "") or getattr(user, "name", "") or self.username)
        editor = self.nexus.notebook_editor
        if editor is None:
            raise NexusError(
                503, "unavailable", "Notebook editing needs NEXUS running inside a Jupyter server."
            )
        try:
            cell_id, index, via = await editor.insert_cell(
                path,
                body.source,
                cell_type=body.cell_type,
                index=body.index,
                nexus=attribution(who, body.model),
            )
        except web.HTTPError as exc:  # the contents manager refused the save
            raise NexusError(
                exc.status_code if exc.status_code < 500 else 409,
                "not_saved",
                "The notebook could not be updated; it may be read-only.",
            ) from None
        self.write_model(NotebookCellInserted(path=path, cell_id=cell_id, index=index, via=via), status=201)


default_handlers = [
    (r"/nexus/api/v1/notebooks/chat", NotebookChatHandler),
    (r"/nexus/api/v1/notebooks/cells", NotebookCellsHandler),
]
