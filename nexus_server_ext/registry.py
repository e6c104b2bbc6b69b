"""The typed service registry: ``settings["nexus"]`` holds one ``NexusServices``, nothing else.

Handlers reach every service through ``self.nexus.<service>``, so a typo is a
type error, not a ``KeyError`` at request time.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .ai.embeddings import Embedder
from .ai.routing import RoutingConfig
from .api_models import StorageStatus
from .commands import CommandRegistry
from .components import ComponentRegistry
from .plugins import IntentRegistry, PluginCatalog
from .projects import FileWatcher, ProjectManager
from .security.audit import AuditLog
from .security.ratelimit import RateLimiter
from .store.conversations import ConversationStore
from .store.database import Database
from .store.users import UserStore
from .tasks import TaskScheduler
from .voice.mapper import VoiceCommandMapper
from .voice.profiles import VoiceProfileStore
from .voice.transcriber import Transcriber

if TYPE_CHECKING:
    from .ai.pipeline import AIPipeline
    from .ai.router import ModelRouter
    from .core.core import ConsciousnessCore
    from .core.indexer import Indexer
    from .core.learning import LearningSystem
    from .core.memory import VectorMemory
    from .handlers.rooms import Rooms


@dataclass(frozen=True)
class Limits:
    max_body_bytes: int
    max_ws_frame_bytes: int


@dataclass
class NexusServices:
    version: str
    config: Limits
    database: Database
    users: UserStore
    conversations: ConversationStore
    audit: AuditLog
    rate_limiter: RateLimiter
    components: ComponentRegistry
    commands: CommandRegistry
    routing: RoutingConfig | None
    handlers: list[tuple[str, Any]]
    scheduler: TaskScheduler
    projects: ProjectManager
    watcher: FileWatcher
    intents: IntentRegistry
    plugins: PluginCatalog
    # -- voice (and the embeddings it shares with vector memory) --
    embedder: Embedder
    transcriber: Transcriber
    voice_mapper: VoiceCommandMapper
    voice_profiles: VoiceProfileStore
    base_url: str = "/"
    # Jupyter's own token/password login names every request "Anonymous <random>"; on such a
    # single-user server all of them are the server's owner, so NEXUS files their data under one name.
    owner_name: str | None = None
    storage_error: str | None = None
    # The Jupyter server's jupyter_events EventLogger (NEXUS schemas are registered at start-up).
    event_logger: Any = None
    # The AI engine; None when the routing file is invalid (``/status`` names the bad key).
    router: ModelRouter | None = None
    pipeline: AIPipeline | None = None
    # The consciousness core (core/); ``core`` is None when the routing file is invalid.
    memory: VectorMemory | None = None
    indexer: Indexer | None = None
    learning: LearningSystem | None = None
    core: ConsciousnessCore | None = None
    rooms: Rooms | None = None
    _openapi: dict[str, Any] | None = field(default=None, repr=False)
    _background: set[asyncio.Future[Any]] = field(default_factory=set, repr=False)

    def username_for(self, user: Any) -> str:
        """The key NEXUS stores a Jupyter identity's data under."""
        return self.owner_name or user.username

    def background(self, future: asyncio.Future[Any]) -> None:
        """Keep a fire-and-forget task referenced until it ends (asyncio holds only weak references)."""
        self._background.add(future)
        future.add_done_callback(self._background.discard)

    async def drain(self) -> None:
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        if self.indexer is not None:
            await self.indexer.stop()
        if self.router is not None:
            await self.router.aclose()

    async def storage_status(self) -> StorageStatus:
        def probe() -> tuple[bool, str | None]:
            try:
                self.database.ping()
                return True, self.database.revision()
            except Exception:
                return False, None

        healthy, revision = await asyncio.to_thread(probe)
        return StorageStatus(
            backend=self.database.backend,
            url=self.database.display_url,
            revision=revision,
            healthy=healthy and self.storage_error is None,
        )

    def openapi_document(self) -> dict[str, Any]:
        if self._openapi is None:
            from .openapi import build_openapi

            self._openapi = build_openapi(self.handlers, self.base_url)
        return self._openapi
