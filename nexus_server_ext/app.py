"""``NexusApp``: the Jupyter server extension that hosts every NEXUS service.

The app's own knobs (storage, encryption, limits of the web layer) are
documented traits, settable in ``jupyter_server_config.py`` as
``c.NexusApp.<name>`` or on the command line as ``--NexusApp.<name>=...``; the
most common ones also read an environment variable (``NEXUS_*``). Each service
owns its settings (``c.RateLimiter.per_minute``, ``c.VectorMemory.chroma_host``...):
it is created with ``parent=`` the app, and a ``*_class`` trait here replaces it
with a subclass. ``MOVED_SETTINGS`` keeps the settings' old ``NexusApp`` names
working for one release. Building the services is ``build.py``'s; the app
decides when: the light ones at start, the rest on first use, the model preload.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jupyter_core.paths import jupyter_data_dir
from jupyter_server.extension.application import ExtensionApp
from traitlets import Bool, Int, Unicode, default, validate
from traitlets.config import Config

from .ai.engines.events import watch_model_loads
from .app_settings import ServiceClass, move_old_settings, preload_when, without_moved
from .build import build_services
from .events import register_schemas
from .handlers import all_handlers
from .registry import NexusServices
from .security.keyring import KEY_FILE_NAME

if TYPE_CHECKING:
    from .ai.router import ModelRouter


class NexusApp(ExtensionApp):
    name = "nexus"
    description = "NEXUS: the AI assistant inside Jupyter"
    load_other_extensions = True

    data_dir = Unicode(
        help="Where NEXUS keeps its SQLite database, vector memory and caches "
        "(default: <jupyter data dir>/nexus; env NEXUS_DATA_DIR).",
    ).tag(config=True)

    database_url = Unicode(
        help="SQLAlchemy URL of the NEXUS database. Empty means a SQLite file in data_dir. "
        "Use postgresql://user:pass@host/db for teams (env NEXUS_DATABASE_URL); ${VAR} in it is taken "
        "from the environment (URL-quoted), so a password need not be in a config file.",
    ).tag(config=True)

    migrate_on_start = Bool(
        True, help="Apply database migrations when the server starts (turn off if a DBA runs them)."
    ).tag(config=True)

    routing_file = Unicode(
        help="YAML file with the model chain per task; empty means the shipped models/routing.yaml "
        "(env NEXUS_ROUTING_FILE). Default: the file `jupyter nexus models pull` / `use` writes "
        "(<data_dir>/routing.yaml, a pulled model as the local one) while it exists, else empty.",
    ).tag(config=True)

    preload_local_model = Unicode(
        "first-client",
        help="When the local model starts loading in the background: 'first-client' (when a client such "
        "as the JupyterLab page first talks to NEXUS, so a server nobody opens stays light and the model "
        "is ready before the first question; only a local model that answers first for some task, not one "
        "behind a configured gateway or API), 'start' (when the server starts) or 'never' (on the first "
        "request that needs it). Unless 'never', the first client also readies the chat path (intent "
        "embedder, vector memory) in the background. Env NEXUS_PRELOAD_MODEL (1 means start, 0 means never).",
    ).tag(config=True)

    max_body_bytes = Int(
        1024 * 1024, help="Largest request body accepted by NEXUS endpoints that do not set their own limit."
    ).tag(config=True)

    max_ws_frame_bytes = Int(
        256 * 1024,
        help="Largest websocket frame a client may send: a larger one is answered with an error frame "
        "(the socket stays open); one over four times this is not read and closes the socket (code 1009).",
    ).tag(config=True)

    encryption_key = Unicode(
        help="AES-256 key (url-safe base64 of 32 bytes) for conversation text and secrets at rest "
        "(env NEXUS_ENCRYPTION_KEY). Empty means the key file in data_dir, created on first start.",
    ).tag(config=True)

    key_file = Unicode(
        help=f"Where the generated encryption key lives (default: <data_dir>/{KEY_FILE_NAME}, mode 0600).",
    ).tag(config=True)

    owner_name = Unicode(
        help="On a single-user server (Jupyter's own token or password login), the name NEXUS files "
        "all data under (default: the operating-system user). Ignored when an identity provider such "
        "as JupyterHub's names users.",
    ).tag(config=True)

    # -- the services, each configured by its own class's traits (c.<Class>.<trait>) ----------------
    router_class = ServiceClass(
        "nexus_server_ext.ai.router.ModelRouter",
        help="The model router (a ModelRouter subclass): walks a task's chain of models, with circuit "
        "breakers (c.ModelRouter.*).",
    )
    rate_limiter_class = ServiceClass(
        "nexus_server_ext.security.ratelimit.RateLimiter",
        help="The per-user rate limiter (a RateLimiter subclass; c.RateLimiter.*).",
    )
    memory_class = ServiceClass(
        "nexus_server_ext.memory.vector_memory.VectorMemory",
        help="The vector memory of learned files and accepted examples (a VectorMemory subclass; "
        "c.VectorMemory.*).",
    )
    context_manager_class = ServiceClass(
        "nexus_server_ext.context.manager.ContextManager",
        help="What a chat request is told about the notebook, kernel and memory (a ContextManager "
        "subclass; c.ContextManager.*, and c.LanguageServers.* for its language servers).",
    )
    intent_classifier_class = ServiceClass(
        "nexus_server_ext.chat.intent.IntentClassifier",
        help="Classifies chat messages into intents (an IntentClassifier subclass; c.IntentClassifier.*).",
    )
    learning_class = ServiceClass(
        "nexus_server_ext.ai.learning.LearningSystem",
        help="Feedback, adaptive routing and few-shot examples (a LearningSystem subclass; "
        "c.LearningSystem.*).",
    )

    def _load_config(
        self, cfg: Config, section_names: list[str] | None = None, traits: dict[str, Any] | None = None
    ) -> None:
        """Load config as traitlets does, without the moved settings' old names (``app_settings``)."""
        super()._load_config(without_moved(cfg), section_names=section_names, traits=traits)

    def _move_old_settings(self) -> None:
        move_old_settings(self.config, self.log)

    def _prepare_config(self) -> None:
        """ExtensionApp's ``nexus_config`` setting (every own trait's value), without the ``*_class``
        traits: reading those imports the services, which the server start leaves to first use."""
        names = [n for n, t in self.class_own_traits().items() if not isinstance(t, ServiceClass)]
        self.extension_config = Config({n: getattr(self, n) for n in names})
        self.settings[f"{self.name}_config"] = self.extension_config

    @default("owner_name")
    def _default_owner_name(self) -> str:
        return getpass.getuser()

    def single_owner(self) -> bool:
        """True when the server's identity provider is Jupyter's own (anonymous token/password users)."""
        provider = getattr(self.serverapp, "identity_provider", None)
        return type(provider).__module__.startswith("jupyter_server.auth")

    @default("data_dir")
    def _default_data_dir(self) -> str:
        return os.environ.get("NEXUS_DATA_DIR") or str(Path(jupyter_data_dir()) / "nexus")

    @default("database_url")
    def _default_database_url(self) -> str:
        return os.environ.get("NEXUS_DATABASE_URL") or f"sqlite:///{Path(self.data_dir) / 'nexus.db'}"

    @default("encryption_key")
    def _default_encryption_key(self) -> str:
        return os.environ.get("NEXUS_ENCRYPTION_KEY", "")

    @default("key_file")
    def _default_key_file(self) -> str:
        return str(Path(self.data_dir) / KEY_FILE_NAME)

    @default("preload_local_model")
    def _default_preload(self) -> str:
        return preload_when(os.environ.get("NEXUS_PRELOAD_MODEL", "") or "first-client")

    @validate("preload_local_model")
    def _check_preload(self, proposal: Any) -> str:
        return preload_when(proposal["value"])

    @default("routing_file")
    def _default_routing_file(self) -> str:
        from .ai.user_routing import current_routing_file

        return os.environ.get("NEXUS_ROUTING_FILE", "") or current_routing_file(self.data_dir)

    def initialize_settings(self) -> None:
        """The light services only (``build.build_services``): what needs SQLAlchemy or the core is
        built on first use, and the local model loads when ``preload_local_model`` says."""
        self._move_old_settings()
        services = build_services(self)
        self._unwatch_models = watch_model_loads(services.events)
        router = services.router
        # The server's loop: learned folders start following the disk on it once the core exists.
        loop = getattr(getattr(self.serverapp, "io_loop", None), "asyncio_loop", None)
        if router is not None and self.preload_local_model == "first-client":
            services.on_first_client = lambda: self._preload_model(router, only_first=True)
        self.settings["nexus"] = services
        self.services = services
        if router is not None and self.preload_local_model == "start":
            self._preload_model(router)
        if services.transcriber.preload:
            services.background(asyncio.ensure_future(self._preload_voice(services)))
        if loop is not None:  # once the deferred services exist: memory follows the disk
            services.when_ready(lambda: loop.call_soon_threadsafe(_start_following, services))

    def _preload_model(self, router: ModelRouter, only_first: bool = False) -> None:
        from .ai.engine_status import preload

        self.log.info("NEXUS: loading the local model in the background")
        preload(router, only_first)

    def register_event_schemas(self) -> Any:
        """Register NEXUS's jupyter_events schemas on the server's EventLogger (None without a server)."""
        logger = getattr(self.serverapp, "event_logger", None)
        if logger is not None:
            register_schemas(logger)
        return logger

    async def _preload_voice(self, services: NexusServices) -> None:
        try:
            await services.transcriber.warm_up()
            await services.voice_mapper.warm_up()
        except Exception as exc:  # preloading is an optimisation; the first request reports errors
            self.log.warning("NEXUS voice preload failed: %s", exc)

    def initialize_handlers(self) -> None:
        self.handlers.extend(all_handlers())

    async def _start_jupyter_server_extension(self, serverapp: Any) -> None:
        """Once the loop runs: the daily audit-retention purge, from when the audit log exists, and
        the remote model providers' health probes when they are configured."""
        services: NexusServices | None = getattr(self, "services", None)
        if services is not None:
            loop = asyncio.get_running_loop()
            services.events.bind(loop)
            services.when_ready(lambda: loop.call_soon_threadsafe(self._start_retention, services))
            if services.router is not None:
                from .ai.probe import ProviderProbes

                probes = ProviderProbes(services.router, services.components)
                self._probes = probes if probes.start() else None

    def _start_retention(self, services: NexusServices) -> None:
        if getattr(self, "_retention", None) is None:
            self._retention = asyncio.ensure_future(_purge_daily(services))

    async def stop_extension(self) -> None:
        retention = getattr(self, "_retention", None)
        if retention is not None:
            retention.cancel()
        probes = getattr(self, "_probes", None)
        if probes is not None:
            await probes.stop()
        unwatch = getattr(self, "_unwatch_models", None)
        if unwatch is not None:
            unwatch()
        services: NexusServices | None = getattr(self, "services", None)
        if services is not None:
            if services.model_pulls is not None:
                await services.model_pulls.aclose()  # pulls in progress stop; the next pull resumes them
            if services.deferred_built:
                if services.agent is not None:
                    from .mcp.server import close_mcp

                    await close_mcp(services.agent)  # MCP sessions and their open turns end
                    await services.agent.aclose()  # turns end (stopped) before the kernels go
                if services.mcp_servers is not None:
                    await services.mcp_servers.aclose()  # the stdio servers' processes end
                await services.scheduler.stop()
            await services.watcher.stop()
            await services.drain()
            services.database.dispose()


def _start_following(services: NexusServices) -> None:
    """On the loop: learned folders catch up on changes made while the server was down, then follow
    the file watcher (nothing learned: the watcher does not even start)."""
    if services.follower is not None:
        services.follower.start()


async def _purge_daily(services: NexusServices) -> None:
    while True:
        with contextlib.suppress(Exception):  # retention must never take the server down
            await services.audit.purge_expired()
        await asyncio.sleep(24 * 3600)


def main(argv: Any = None) -> None:  # pragma: no cover - `python -m nexus_server_ext` convenience
    NexusApp.launch_instance(argv)
