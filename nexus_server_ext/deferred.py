"""What NEXUS builds on first use: the services that import SQLAlchemy, the ORM models or the core.

``NexusServices`` calls ``build_deferred`` once, on a worker thread, when the
first client talks to NEXUS (or when something reads one of these services);
the server start itself imports none of this.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from .registry import DeferredServices, NexusServices

if TYPE_CHECKING:
    from .app import NexusApp


def build_deferred(app: NexusApp, services: NexusServices) -> DeferredServices:
    from .build import build_core
    from .projects.manager import ProjectManager
    from .security.audit import AuditLog
    from .store.conversations import ConversationStore
    from .store.secrets import ProviderSecretStore
    from .store.users import UserStore
    from .tasks import TaskScheduler
    from .voice.profiles import VoiceProfileStore

    database = services.database
    scheduler = TaskScheduler(database, services.events, parent=app)
    serverapp = app.serverapp
    projects = ProjectManager(
        database,
        scheduler,
        str(getattr(serverapp, "root_dir", "") or os.getcwd()),
        serverapp.contents_manager if serverapp else None,
        serverapp.kernel_spec_manager.user_kernel_dir if serverapp and serverapp.kernel_spec_manager else "",
        parent=app,
    )
    if services.storage_error is None:
        try:
            scheduler.recover_now()
        except Exception as exc:
            app.log.error("NEXUS could not recover background tasks: %s", exc)
    pipeline = None
    if services.router is not None:
        from .ai.pipeline import AIPipeline

        pipeline = AIPipeline(services.router, database)
    secrets = ProviderSecretStore(database)
    if services.router is not None:  # keys stored through the secrets API reach the providers
        services.router.key_lookup = secrets.keys_for
    conversations = ConversationStore(database)
    from .chat.plugin_answers import PluginAnswers

    plugins = PluginAnswers(services.intents, services.commands)
    built = build_core(
        app,
        database,
        conversations,
        services.router,
        scheduler,
        services.watcher,
        services.events,
        plugins,
        pipeline,
    )
    return DeferredServices(
        users=UserStore(database),
        conversations=conversations,
        audit=AuditLog(database, log_prompts=app.audit_log_prompts, retention_days=app.audit_retention_days),
        scheduler=scheduler,
        projects=projects,
        voice_profiles=VoiceProfileStore(database),
        secrets=secrets,
        pipeline=pipeline,
        memory=built.memory,
        indexer=built.indexer,
        learn_jobs=built.learn_jobs,
        follower=built.follower,
        learning=built.learning,
        core=built.core,
    )
