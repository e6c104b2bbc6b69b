"""Building every NEXUS service, in two stages, from the app's settings.

``build_services`` runs when the server starts and builds the light services
(configuration, storage handle, routing, rate limits, the model router, voice,
events). ``build_deferred`` runs once, on a worker thread, when the first client
talks to NEXUS (``NexusServices.ready``): the stores, the scheduler and the
consciousness core, which import SQLAlchemy's ORM, chromadb or the core and so
stay out of the server start; their imports are inside the function for that
reason.

Each configurable service is created with ``parent=`` the app, so it reads its
own settings (``c.VectorMemory.*``, ``c.AuditLog.*``...); a replaceable one is
the class the app's ``*_class`` trait names. What is passed as an argument is
what is not a setting: collaborators such as the database or the router. The
app is seen only through ``AppSettings``: this module never imports it.
"""

from __future__ import annotations

import logging
import os
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ._version import __version__
from .ai.embeddings import Embedder, embeddings_status, set_embedder
from .ai.model_pulls import ModelPulls
from .ai.routing import RoutingConfig, RoutingError, load_routing
from .api_models import ComponentStatus
from .collab.documents import NotebookEditor
from .commands import builtin_registry
from .components import ComponentRegistry
from .events import PLUGIN, NexusEvents
from .handlers import all_handlers
from .handlers.rooms import Rooms
from .metrics import register_collectors
from .plugins import BUILTIN_INTENTS, IntentRegistry, PluginCatalog, load_plugins
from .projects.watcher import FileWatcher
from .registry import DeferredServices, Limits, NexusServices
from .security.keyring import CryptoError, UnusableKeyRing, load_keyring
from .store.database import Database, StorageError
from .voice.mapper import VoiceCommandMapper
from .voice.transcriber import Transcriber, voice_status

if TYPE_CHECKING:
    from traitlets.config import LoggingConfigurable

    from .agent.tools import ToolRegistry
    from .ai.learning import LearningSystem
    from .ai.router import ModelRouter
    from .chat.intent import IntentClassifier
    from .context.manager import ContextManager
    from .mcp.client import MCPServers
    from .memory.vector_memory import VectorMemory
    from .security.ratelimit import RateLimiter


class AppSettings(Protocol):
    """What building reads from the app (``NexusApp`` is one): its own settings, the service classes
    its ``*_class`` traits name, and the Jupyter server it runs in."""

    @property
    def log(self) -> logging.Logger | logging.LoggerAdapter[Any]: ...
    @property
    def serverapp(self) -> Any: ...
    @property
    def data_dir(self) -> str: ...
    @property
    def database_url(self) -> str: ...
    @property
    def migrate_on_start(self) -> bool: ...
    @property
    def routing_file(self) -> str: ...
    @property
    def encryption_key(self) -> str: ...
    @property
    def key_file(self) -> str: ...
    @property
    def preload_local_model(self) -> str: ...
    @property
    def max_body_bytes(self) -> int: ...
    @property
    def max_ws_frame_bytes(self) -> int: ...
    @property
    def owner_name(self) -> str: ...
    @property
    def router_class(self) -> type[ModelRouter]: ...
    @property
    def rate_limiter_class(self) -> type[RateLimiter]: ...
    @property
    def memory_class(self) -> type[VectorMemory]: ...
    @property
    def context_manager_class(self) -> type[ContextManager]: ...
    @property
    def intent_classifier_class(self) -> type[IntentClassifier]: ...
    @property
    def learning_class(self) -> type[LearningSystem]: ...
    def single_owner(self) -> bool: ...
    def register_event_schemas(self) -> Any: ...


def _parent(app: AppSettings) -> LoggingConfigurable:
    """The app as the services' configuration parent (it is a ``Configurable``)."""
    return app  # type: ignore[return-value]


# -- at server start --------------------------------------------------------------------------------
def build_services(app: AppSettings) -> NexusServices:
    """The light services: nothing here imports the ORM models, chromadb, torch or the core."""
    parent = _parent(app)
    Path(app.data_dir).mkdir(parents=True, exist_ok=True)
    components = ComponentRegistry()
    database, storage_error = _open_storage(app)
    routing = _load_routing(app, components)
    _use_keyring(app, database, components)

    register_collectors()
    commands, intents = builtin_registry(), IntentRegistry(BUILTIN_INTENTS)
    plugins = load_plugins(commands, intents)
    components.register("plugins", plugins.status)
    serverapp = app.serverapp
    root_dir = str(getattr(serverapp, "root_dir", "") or os.getcwd())
    embedder = Embedder(parent=parent)
    embedder.use_routing(routing)  # the embeddings chain: the team gateway first, where one is set
    set_embedder(embedder)  # one per process: the classifier, memory and voice share it
    components.register("embeddings", lambda: embeddings_status(embedder))
    transcriber = Transcriber(parent=parent)
    voice_mapper = VoiceCommandMapper(parent=parent, registry=commands, embedder=embedder)
    components.register("voice", lambda: voice_status(transcriber))
    # The server's loop: events from worker threads (model loads) are delivered on it.
    loop = getattr(getattr(serverapp, "io_loop", None), "asyncio_loop", None)
    events = NexusEvents(app.register_event_schemas(), loop)
    _report_broken_plugins(events, plugins)
    router = None
    if routing is not None:
        from .ai.engine_status import register_engine_health

        router = app.router_class(routing, parent=parent)
        register_engine_health(components, router)

    return NexusServices(
        version=__version__,
        config=Limits(max_body_bytes=app.max_body_bytes, max_ws_frame_bytes=app.max_ws_frame_bytes),
        database=database,
        rate_limiter=app.rate_limiter_class(parent=parent),
        components=components,
        commands=commands,
        routing=routing,
        handlers=all_handlers(),
        watcher=FileWatcher(root_dir),
        intents=intents,
        plugins=plugins,
        build_deferred=lambda services: build_deferred(app, services),
        embedder=embedder,
        transcriber=transcriber,
        voice_mapper=voice_mapper,
        events=events,
        base_url=serverapp.base_url if serverapp else "/",
        storage_error=storage_error,
        owner_name=app.owner_name if app.single_owner() else None,
        router=router,
        rooms=Rooms(),
        notebook_rooms=Rooms(),
        notebook_editor=NotebookEditor(serverapp),
        warm_chat=app.preload_local_model != "never",
        model_pulls=ModelPulls(app.data_dir, app.routing_file, parent=parent),
    )


def _open_storage(app: AppSettings) -> tuple[Database, str | None]:
    """The database, migrated when the app says so. An unreachable one is reported, never fatal:
    the server starts and ``/status`` says storage is down."""
    database = Database(app.database_url)
    if not app.migrate_on_start:
        return database, None
    try:
        revision = database.migrate()  # one query when the schema is already current
    except StorageError as exc:
        app.log.error("NEXUS storage is unavailable: %s", exc)
        return database, str(exc)
    app.log.info("NEXUS storage: %s at revision %s", database.display_url, revision)
    return database, None


def _load_routing(app: AppSettings, components: ComponentRegistry) -> RoutingConfig | None:
    try:
        return load_routing(app.routing_file or None)
    except RoutingError as exc:
        app.log.error("NEXUS model routing is invalid: %s", exc)
        message = str(exc)
        components.register(
            "routing", lambda: ComponentStatus(name="routing", state="degraded", detail=message)
        )
        return None


def _use_keyring(app: AppSettings, database: Database, components: ComponentRegistry) -> None:
    try:
        keyring = load_keyring(app.encryption_key, Path(app.key_file))
    except CryptoError as exc:
        # Refuse to store plaintext: conversation storage fails loudly until the key is fixed.
        app.log.error("NEXUS encryption key unusable: %s", exc)
        database.use_keyring(UnusableKeyRing(str(exc)))
        detail = f"encryption key unusable: {exc}"
        components.register(
            "encryption", lambda: ComponentStatus(name="encryption", state="degraded", detail=detail)
        )
        return
    database.use_keyring(keyring)
    detail = f"AES-256-GCM at rest, key {keyring.primary_id}"
    components.register("encryption", lambda: ComponentStatus(name="encryption", state="ok", detail=detail))


def _report_broken_plugins(events: NexusEvents, plugins: PluginCatalog) -> None:
    for record in plugins.broken:
        events.emit(
            PLUGIN,
            {"plugin": record.name, "group": record.group, "stage": "load", "error": record.error or ""},
        )


# -- on first use -----------------------------------------------------------------------------------
def build_deferred(app: AppSettings, services: NexusServices) -> DeferredServices:
    """The stores, the scheduler, the pipeline and the consciousness core (on a worker thread)."""
    from .agent.service import AgentService
    from .ai.interactions import DatabaseInteractions
    from .ai.pipeline import AIPipeline
    from .chat.consciousness import ConsciousnessCore
    from .chat.intent import llm_tie_breaker
    from .chat.plugin_answers import PluginAnswers
    from .diagnosis.checker import FixChecker
    from .diagnosis.service import Diagnosis
    from .memory.follower import STATE_FILE, MemoryFollower
    from .memory.health import vector_memory_status
    from .memory.indexer import Indexer
    from .memory.learn_tasks import LearnJobs
    from .projects.manager import ProjectManager
    from .security.audit import AuditLog
    from .store.conversations import ConversationStore
    from .store.secrets import ProviderSecretStore
    from .store.users import UserStore
    from .tasks import TaskScheduler
    from .voice.profiles import VoiceProfileStore

    parent = _parent(app)
    database, router, serverapp = services.database, services.router, app.serverapp
    root_dir = str(getattr(serverapp, "root_dir", "") or os.getcwd())
    scheduler = TaskScheduler(database, services.events, parent=parent)
    projects = ProjectManager(
        database,
        scheduler,
        root_dir,
        serverapp.contents_manager if serverapp else None,
        serverapp.kernel_spec_manager.user_kernel_dir if serverapp and serverapp.kernel_spec_manager else "",
        parent=parent,
    )
    if services.storage_error is None:
        try:
            scheduler.recover_now()
        except Exception as exc:
            app.log.error("NEXUS could not recover background tasks: %s", exc)
    secrets = ProviderSecretStore(database)
    conversations = ConversationStore(database)
    # Memory: the conversations' key encrypts learned text at rest too.
    memory = app.memory_class(Path(app.data_dir) / "memory", keyring=database.keyring, parent=parent)
    services.components.register("vector_memory", partial(vector_memory_status, memory))
    indexer = Indexer(memory, getattr(serverapp, "root_dir", None) or ".")
    follower = MemoryFollower(
        indexer, services.watcher, Path(app.data_dir) / STATE_FILE, services.events, parent=parent
    )
    learn_jobs = LearnJobs(indexer, scheduler, services.events, follower)
    learning = app.learning_class(database, memory, router.routing if router else None, parent=parent)
    built = DeferredServices(
        users=UserStore(database),
        conversations=conversations,
        audit=AuditLog(database, parent=parent),
        scheduler=scheduler,
        projects=projects,
        voice_profiles=VoiceProfileStore(database),
        secrets=secrets,
        memory=memory,
        indexer=indexer,
        learn_jobs=learn_jobs,
        follower=follower,
        learning=learning,
    )
    if router is None:  # an invalid routing file: no pipeline, no core (``/status`` names the bad key)
        return built
    router.key_lookup = secrets.keys_for  # keys stored through the secrets API reach the providers
    pipeline = AIPipeline(router, database)
    context = app.context_manager_class(serverapp, memory, parent=parent)
    built.pipeline = pipeline
    built.diagnosis = Diagnosis(context, FixChecker(context=context, parent=parent))
    if serverapp is not None:
        from .handlers.ws_agent import AgentAnnouncer

        built.agent = AgentService(
            serverapp=serverapp,
            router=router,
            announce=AgentAnnouncer(services),
            audit=built.audit,
            interactions=DatabaseInteractions(database),
            memory=memory,
            parent=parent,
        )
        built.mcp_servers = _connect_mcp_servers(app, services, built.agent.tools)
    built.core = ConsciousnessCore(
        conversations=conversations,
        pipeline=pipeline,
        classifier=app.intent_classifier_class(tie_breaker=llm_tie_breaker(pipeline), parent=parent),
        context=context,
        diagnosis=built.diagnosis,
        memory=memory,
        learn_jobs=learn_jobs,
        learning=learning,
        plugins=PluginAnswers(services.intents, services.commands),
        root_dir=root_dir,
        parent=parent,
    )
    return built


def _connect_mcp_servers(app: AppSettings, services: NexusServices, tools: ToolRegistry) -> MCPServers:
    """The admin's MCP servers: in ``/status`` at once, connected in the background on the server's
    loop (their allowed tools join the agent's registry as each server lists them)."""
    from .mcp.client import MCPServers

    mcp_servers = MCPServers(registry=tools, parent=_parent(app))
    services.components.register("mcp", mcp_servers.status)
    mcp_servers.start(getattr(getattr(app.serverapp, "io_loop", None), "asyncio_loop", None))
    return mcp_servers
