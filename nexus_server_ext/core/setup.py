"""Build the consciousness core's services from ``NexusApp``'s traits (kept out of app.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..ai.router import ModelRouter
from ..store.conversations import ConversationStore
from ..store.database import Database
from .context import ContextManager
from .core import ConsciousnessCore
from .indexer import Indexer
from .intent import IntentClassifier, llm_tie_breaker
from .learning import LearningSystem
from .memory import HnswParams, VectorMemory
from .plugin_answers import PluginAnswers


def build_core(
    app: Any,
    database: Database,
    conversations: ConversationStore,
    router: ModelRouter | None,
    plugins: PluginAnswers | None = None,
) -> tuple[VectorMemory, Indexer, LearningSystem, ConsciousnessCore | None]:
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
    indexer = Indexer(memory, root, refresh_interval_s=app.memory_refresh_interval_s)
    learning = LearningSystem(
        database,
        memory,
        router.routing if router else None,
        enabled=app.adaptive_routing,
        min_samples=app.routing_min_samples,
        demote_below=app.routing_demote_below,
        max_shift=app.routing_max_shift,
    )
    if router is None:
        return memory, indexer, learning, None
    classifier = IntentClassifier(
        margin=app.intent_margin, tie_breaker=llm_tie_breaker(router) if app.intent_llm_tie_breaker else None
    )
    context = ContextManager(
        app.serverapp,
        memory,
        budget_tokens=app.context_budget_tokens,
        memory_results=app.memory_results,
        min_memory_score=app.memory_min_score,
    )
    core = ConsciousnessCore(
        database=database,
        conversations=conversations,
        router=router,
        classifier=classifier,
        context=context,
        memory=memory,
        indexer=indexer,
        learning=learning,
        max_tokens=app.chat_max_tokens or None,
        plugins=plugins,
        root_dir=str(root),
    )
    return memory, indexer, learning, core
