"""Three people on one Jupyter server, for the collaboration tests.

The ``nexus-test-user`` cookie (a browser context) or ``Authorization: token
user-<name>`` (REST and websockets from tests) signs in as <name>; the server's
own token (the harness checking that the server is up) signs in as alice. The
authorizer gives carol no access to notebooks (``contents``), while she may
still use NEXUS: her only way into a notebook's chat would be NEXUS itself.
"""

from __future__ import annotations

from typing import Any

from jupyter_server.auth.authorizer import Authorizer
from jupyter_server.auth.identity import IdentityProvider, User

COOKIE = "nexus-test-user"


class TeamIdentityProvider(IdentityProvider):
    def get_user(self, handler: Any) -> User | None:
        auth = handler.request.headers.get("Authorization", "")
        name = handler.get_cookie(COOKIE)  # first: JupyterLab also sends the server token
        if not name and auth.startswith("token user-"):
            name = auth.removeprefix("token user-")
        elif not name and self.token and auth == f"token {self.token}":
            name = "alice"
        if not name or not name.isalnum():
            return None
        return User(username=name, name=name, display_name=name.title())

    def is_token_authenticated(self, handler: Any) -> bool:
        # Header users are API clients (no XSRF); cookie users are browsers (XSRF checked).
        return handler.get_cookie(COOKIE) is None


# Tests that only use headers call it by what they use.
HeaderIdentityProvider = TeamIdentityProvider


class NotebookTeamAuthorizer(Authorizer):
    """Everyone may use NEXUS; carol may not open notebooks (``contents``) or run kernels."""

    def is_authorized(self, handler: Any, user: User, action: str, resource: str) -> bool:
        if user.username == "carol":
            return resource not in ("contents", "kernels", "sessions", "files")
        return True
