"""Build the consciousness core and its services (memory, learning, context) from ``NexusApp`` traits."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..ai.pipeline import AIPipeline
from ..ai.router import ModelRouter
from ..events import NexusEvents
from ..projects.watcher import FileWatcher
from ..store.conversations import ConversationStore
from ..store.database import Database
from ..tasks import TaskScheduler
from .consciousness import ConsciousnessCore
from .context import ContextManager
from .follower import STATE_FILE, MemoryFollower
from .indexer import Indexer
from .intent import IntentClassifier, llm_tie_breaker
from .learn_tasks import LearnJobs
from .learning import LearningSystem
from .lsp import LanguageServers
from .memory import HnswParams, VectorMemory
from .plugin_answers import PluginAnswers


@dataclass
class CoreServices:
    memory: VectorMemory
    indexer: Indexer
    learn_jobs: LearnJobs
    follower: MemoryFollower
    learning: LearningSystem
    core: ConsciousnessCore | None  # None when the routing file is invalid


def build_core(
    app: Any,
    database: Database,
    conversations: ConversationStore,
    router: ModelRouter | None,
    scheduler: TaskScheduler,
    watcher: FileWatcher,
    events: NexusEvents,
    plugins: PluginAnswers | None = None,
    pipeline: AIPipeline | None = None,
) -> CoreServices:
    memory = VectorMemory(
        Path(app.data_dir) / "memory",
        host=app.chroma_host,
        port=app.chroma_port,
        ssl=app.chroma_ssl,
        hnsw=HnswParams(
            app.memory_hnsw_ef_construction, app.memory_hnsw_ef_search, app.memory_hnsw_max_neighbors
        ),
        keyring=database.keyring,  # the conversations' key: learned text is encrypted at rest too
    )
    root = getattr(app.serverapp, "root_dir", None) or "."
    indexer = Indexer(memory, root)
    follower = MemoryFollower(
        indexer, watcher, Path(app.data_dir) / STATE_FILE, events, enabled=app.memory_follow_files
    )
    learn_jobs = LearnJobs(indexer, scheduler, events, follower)
    learning = LearningSystem(
        database,
        memory,
        router.routing if router else None,
        enabled=app.adaptive_routing,
        min_samples=app.routing_min_samples,
        demote_below=app.routing_demote_below,
        max_shift=app.routing_max_shift,
    )
    if router is None or pipeline is None:
        return CoreServices(memory, indexer, learn_jobs, follower, learning, None)
    classifier = IntentClassifier(
        margin=app.intent_margin, tie_breaker=llm_tie_breaker(router) if app.intent_llm_tie_breaker else None
    )
    context = ContextManager(
        app.serverapp,
        memory,
        language_servers=LanguageServers(
            app.serverapp, timeout_s=app.lsp_timeout_s, ignore_sources=app.lsp_ignore_sources
        ),
        budget_tokens=app.context_budget_tokens,
        memory_results=app.memory_results,
        min_memory_score=app.memory_min_score,
    )
    core = ConsciousnessCore(
        database=database,
        conversations=conversations,
        router=router,
        pipeline=pipeline,
        classifier=classifier,
        context=context,
        memory=memory,
        learn_jobs=learn_jobs,
        learning=learning,
        max_tokens=app.chat_max_tokens or None,
        plugins=plugins,
        root_dir=str(root),
    )
    return CoreServices(memory, indexer, learn_jobs, follower, learning, core)
