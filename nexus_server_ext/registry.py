"""The typed service registry: ``settings["nexus"]`` holds one ``NexusServices``, nothing else.

Handlers reach every service through ``self.nexus.<service>``, so a typo is a
type error, not a ``KeyError`` at request time.

Two kinds of service live here. The light ones (configuration, routing, rate
limits, the model router) are built when the server starts. The ones that need
SQLAlchemy, the ORM models or the consciousness core are ``DeferredServices``:
built once, on a worker thread, when the first client talks to NEXUS (every
handler awaits ``ready()`` in ``prepare``), so a server nobody uses for AI
starts as fast as one without NEXUS. Reading one of them before that builds
them on the spot (tests and the shutdown path do).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .api_models import StorageStatus
from .events import NexusEvents
from .metrics import record_storage_health

if TYPE_CHECKING:
    from .agent.service import AgentService
    from .ai.embeddings import Embedder
    from .ai.learning import LearningSystem
    from .ai.model_pulls import ModelPulls
    from .ai.pipeline import AIPipeline
    from .ai.router import ModelRouter
    from .ai.routing import RoutingConfig
    from .chat.consciousness import ConsciousnessCore
    from .collab.documents import NotebookEditor
    from .commands import CommandRegistry
    from .components import ComponentRegistry
    from .diagnosis.service import Diagnosis
    from .handlers.rooms import Rooms
    from .mcp.client import MCPServers
    from .memory.follower import MemoryFollower
    from .memory.indexer import Indexer
    from .memory.learn_tasks import LearnJobs
    from .memory.vector_memory import VectorMemory
    from .plugins import IntentRegistry, PluginCatalog
    from .projects.manager import ProjectManager
    from .projects.watcher import FileWatcher
    from .security.audit import AuditLog
    from .security.ratelimit import RateLimiter
    from .store.conversations import ConversationStore
    from .store.database import Database
    from .store.secrets import ProviderSecretStore
    from .store.users import UserStore
    from .tasks import TaskScheduler
    from .voice.mapper import VoiceCommandMapper
    from .voice.profiles import VoiceProfileStore
    from .voice.transcriber import Transcriber


log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Limits:
    max_body_bytes: int
    max_ws_frame_bytes: int


@dataclass
class DeferredServices:
    """The services that import SQLAlchemy or the core; see the module docstring for when they exist."""

    users: UserStore
    conversations: ConversationStore
    audit: AuditLog
    scheduler: TaskScheduler
    projects: ProjectManager
    voice_profiles: VoiceProfileStore
    secrets: ProviderSecretStore
    pipeline: AIPipeline | None = None
    # Chat and what it reads (chat/, memory/, ai/learning.py); ``core`` is None when the routing file
    # is invalid.
    memory: VectorMemory | None = None
    indexer: Indexer | None = None
    learn_jobs: LearnJobs | None = None  # learning as scheduler tasks
    follower: MemoryFollower | None = None  # learned folders follow the file watcher
    learning: LearningSystem | None = None
    core: ConsciousnessCore | None = None
    # The one Explain / Fix service (diagnosis/): REST generate, chat and the kernel's server transport.
    diagnosis: Diagnosis | None = None
    # The notebook agent (agent/): None when the routing file is invalid.
    agent: AgentService | None = None
    # The MCP servers an administrator lists, whose allowed tools the agent calls (mcp/client.py);
    # None with the agent.
    mcp_servers: MCPServers | None = None


@dataclass
class NexusServices:
    version: str
    config: Limits
    database: Database
    rate_limiter: RateLimiter
    components: ComponentRegistry
    commands: CommandRegistry
    routing: RoutingConfig | None
    handlers: list[tuple[str, Any]]
    watcher: FileWatcher
    intents: IntentRegistry
    plugins: PluginCatalog
    # Builds the deferred services (called once, off the event loop).
    build_deferred: Callable[[NexusServices], DeferredServices]
    # -- voice (and the embeddings it shares with vector memory) --
    embedder: Embedder
    transcriber: Transcriber
    voice_mapper: VoiceCommandMapper
    base_url: str = "/"
    # Jupyter's own token/password login names every request "Anonymous <random>"; on such a
    # single-user server all of them are the server's owner, so NEXUS files their data under one name.
    owner_name: str | None = None
    storage_error: str | None = None
    # NEXUS events on the Jupyter server's jupyter_events EventLogger (schemas registered at start-up).
    events: NexusEvents = field(default_factory=NexusEvents)
    # The AI engine; None when the routing file is invalid (``/status`` names the bad key).
    router: ModelRouter | None = None
    rooms: Rooms | None = None
    # Notebook chats: the sockets following each notebook's shared chat, by notebook path.
    notebook_rooms: Rooms | None = None
    # Server-side notebook edits (through the shared document when collaborators have it open).
    notebook_editor: NotebookEditor | None = None
    # Called once, on the event loop, when the first client talks to NEXUS (the model preload).
    on_first_client: Callable[[], None] | None = None
    # Also ready the chat path (intent embedder, vector memory) for the first client (preload != never).
    warm_chat: bool = True
    # The model dashboard's pulls from the Hugging Face Hub and its Use button (ai/model_pulls.py).
    model_pulls: ModelPulls | None = None
    _deferred: DeferredServices | None = field(default=None, repr=False)
    _deferred_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _deferred_ready: list[Callable[[], object]] = field(default_factory=list, repr=False)
    _first_client_seen: bool = field(default=False, repr=False)
    _openapi: dict[str, Any] | None = field(default=None, repr=False)
    _background: set[asyncio.Future[Any]] = field(default_factory=set, repr=False)

    # -- deferred services --------------------------------------------------------------------------
    @property
    def deferred(self) -> DeferredServices:
        """The deferred services, built now (blocking) if nothing has built them yet."""
        if self._deferred is None:
            with self._deferred_lock:
                if self._deferred is None:
                    self._deferred = self.build_deferred(self)
                    for callback in self._deferred_ready:
                        callback()
        return self._deferred

    @property
    def deferred_built(self) -> bool:
        return self._deferred is not None

    async def ready(self) -> None:
        """Build the deferred services on a worker thread if needed (the event loop never waits)."""
        if self._deferred is None:
            await asyncio.to_thread(lambda: self.deferred)

    def when_ready(self, callback: Callable[[], object]) -> None:
        """Call ``callback`` (on whichever thread builds them) once the deferred services exist."""
        with self._deferred_lock:
            if self._deferred is None:
                self._deferred_ready.append(callback)
                return
        callback()

    def first_client(self) -> None:
        """An authenticated client talked to NEXUS: start what it will want (once per process)."""
        if self._first_client_seen:
            return
        self._first_client_seen = True
        if self.on_first_client is not None:
            self.on_first_client()
        if self._deferred is None:
            self.background(asyncio.ensure_future(self._warm_up()))

    async def _warm_up(self) -> None:
        try:
            await self.ready()
        except Exception:  # the next request that needs them tries again and reports the error
            log.exception("NEXUS could not build its services")
            return
        if self.warm_chat and self.core is not None:
            try:
                await self.core.warm_up()  # the embedder and memory the first question uses
            except Exception as exc:
                log.warning("NEXUS could not warm up the chat path: %s", exc)

    @property
    def users(self) -> UserStore:
        return self.deferred.users

    @property
    def conversations(self) -> ConversationStore:
        return self.deferred.conversations

    @property
    def audit(self) -> AuditLog:
        return self.deferred.audit

    @property
    def scheduler(self) -> TaskScheduler:
        return self.deferred.scheduler

    @property
    def projects(self) -> ProjectManager:
        return self.deferred.projects

    @property
    def voice_profiles(self) -> VoiceProfileStore:
        return self.deferred.voice_profiles

    @property
    def secrets(self) -> ProviderSecretStore:
        return self.deferred.secrets

    @property
    def pipeline(self) -> AIPipeline | None:
        return self.deferred.pipeline

    @property
    def memory(self) -> VectorMemory | None:
        return self.deferred.memory

    @property
    def indexer(self) -> Indexer | None:
        return self.deferred.indexer

    @property
    def learn_jobs(self) -> LearnJobs | None:
        return self.deferred.learn_jobs

    @property
    def follower(self) -> MemoryFollower | None:
        return self.deferred.follower

    @property
    def learning(self) -> LearningSystem | None:
        return self.deferred.learning

    @property
    def core(self) -> ConsciousnessCore | None:
        return self.deferred.core

    @property
    def diagnosis(self) -> Diagnosis | None:
        return self.deferred.diagnosis

    @property
    def agent(self) -> AgentService | None:
        return self.deferred.agent

    @property
    def mcp_servers(self) -> MCPServers | None:
        return self.deferred.mcp_servers

    # -- the rest -----------------------------------------------------------------------------------
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
        if self._deferred is not None and self._deferred.follower is not None:
            self._deferred.follower.stop()
        if self._deferred is not None and self._deferred.core is not None:
            self._deferred.core.context.language_servers.stop()  # the language server processes
        if self.router is not None:
            await self.router.aclose()

    async def storage_status(self) -> StorageStatus:
        def probe() -> tuple[bool, str | None]:
            try:
                return True, self.database.revision()  # one query: reaching the database is the ping
            except Exception:
                return False, None

        healthy, revision = await asyncio.to_thread(probe)
        status = StorageStatus(
            backend=self.database.backend,
            url=self.database.public_url,
            revision=revision,
            healthy=healthy and self.storage_error is None,
        )
        record_storage_health("database", status.healthy)  # the NexusStorageUnhealthy alert
        return status

    def openapi_document(self) -> dict[str, Any]:
        if self._openapi is None:
            from .openapi import build_openapi

            self._openapi = build_openapi(self.handlers, self.base_url)
        return self._openapi
