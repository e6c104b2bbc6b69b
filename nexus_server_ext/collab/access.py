"""Who may read or join a notebook's chat: exactly who may open the notebook.

The notebook's own access decides, checked on the server for every request: the
Jupyter authorizer must allow the user to ``read`` (or ``write``, to edit)
``contents``, and the contents manager must be able to open the path for them
(so a contents manager that restricts paths per user restricts the chat too).
"""

from __future__ import annotations

import posixpath
from typing import Any, Literal

from jupyter_server.utils import ensure_async
from tornado import web

from ..errors import NexusError

NO_ACCESS = "You cannot open this notebook, so you cannot read or join its chat."


def normalize_notebook_path(path: str) -> str:
    """The server-relative API path of a notebook; a clear 400 for anything that is not one."""
    clean = posixpath.normpath(path.strip().replace("\\", "/")).lstrip("/")
    if not path.strip() or clean in ("", ".") or clean.startswith("..") or "\x00" in clean:
        raise NexusError(400, "invalid_path", "Give the notebook's path relative to the server root.")
    if not clean.endswith(".ipynb"):
        raise NexusError(400, "invalid_path", "Notebook chats belong to notebooks (.ipynb files).")
    return clean


async def check_notebook_access(handler: Any, path: str, action: Literal["read", "write"] = "read") -> str:
    """Raise 403/404 unless the handler's user may ``action`` the notebook; returns the clean path."""
    clean = normalize_notebook_path(path)
    authorized = await ensure_async(
        handler.authorizer.is_authorized(handler, handler.current_user, action, "contents")
    )
    if not authorized:
        raise NexusError(403, "forbidden", NO_ACCESS)
    contents = handler.settings["contents_manager"]
    try:
        await ensure_async(contents.get(clean, content=False, type="notebook"))
    except web.HTTPError as exc:
        if exc.status_code == 403:
            raise NexusError(403, "forbidden", NO_ACCESS) from None
        raise NexusError(404, "not_found", f"There is no notebook {clean!r}.") from None
    return clean
