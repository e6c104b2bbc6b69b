"""Provider API keys: set, replace, delete; never returned."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from .base import ApiModel

# -- provider secrets -------------------------------------------------------------------------------
SecretScope = Literal["user", "server"]


class ProviderSecretIn(ApiModel):
    """A provider API key to store (encrypted); no response ever contains it again."""

    api_key: str = Field(
        min_length=1,
        max_length=4096,
        pattern=r"^[!-~]+$",
        description="The key as the provider issued it (printable ASCII, no spaces).",
    )


class ProviderSecretOut(ApiModel):
    provider: str
    scope: SecretScope = Field(description="`user`: the caller's own key; `server`: every user's.")
    set: bool
    updated_at: datetime | None = None


class ProviderSecretState(ApiModel):
    """Whether each kind of key is set for one provider of the routing file; never a key itself."""

    provider: str
    kind: str = Field(description="The provider kind from the routing file (`openai`, `anthropic`...).")
    user_key_set: bool
    user_key_updated_at: datetime | None = None
    server_key_set: bool
    server_key_updated_at: datetime | None = None
    environment_key_set: bool = Field(
        description="The routing file's `api_key` (usually an environment variable) is non-empty."
    )
    in_use: Literal["user", "server", "environment"] | None = Field(
        description="Whose key the caller's requests use: the own key, else the server-wide one, "
        "else the routing file's; null when the provider has none."
    )


class ProviderSecretList(ApiModel):
    providers: list[ProviderSecretState]
