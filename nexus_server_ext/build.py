"""Build the consciousness core and its services (memory, learning, context, intent).

Each service is the class ``NexusApp`` names (``memory_class``...), created with
``parent=`` the app so that it reads its own settings (``c.VectorMemory.*``...);
what is passed here is what is not a setting: the stores, the router, the app's
own data dir.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .ai.pipeline import AIPipeline
from .ai.router import ModelRouter
from .events import NexusEvents
from .projects.watcher import FileWatcher
from .store.conversations import ConversationStore
from .store.database import Database
from .tasks import TaskScheduler
from .chat.consciousness import ConsciousnessCore
from .context.manager import ContextManager
from .memory.follower import STATE_FILE, MemoryFollower
from .memory.indexer import Indexer
from .chat.intent import IntentClassifier, llm_tie_breaker
from .memory.learn_tasks import LearnJobs
from .ai.learning import LearningSystem
from .memory.vector_memory import VectorMemory
from .chat.plugin_answers import PluginAnswers

if TYPE_CHECKING:
    from .app import NexusApp


@dataclass
class CoreServices:
    memory: VectorMemory
    indexer: Indexer
    learn_jobs: LearnJobs
    follower: MemoryFollower
    learning: LearningSystem
    core: ConsciousnessCore | None  # None when the routing file is invalid


def build_core(
    app: NexusApp,
    database: Database,
    conversations: ConversationStore,
    router: ModelRouter | None,
    scheduler: TaskScheduler,
    watcher: FileWatcher,
    events: NexusEvents,
    plugins: PluginAnswers | None = None,
    pipeline: AIPipeline | None = None,
) -> CoreServices:
    """The core's services, of the classes ``app`` names, each configured by its own class's traits."""
    memory_class: type[VectorMemory] = app.memory_class
    learning_class: type[LearningSystem] = app.learning_class
    # The conversations' key: learned text is encrypted at rest too.
    memory = memory_class(Path(app.data_dir) / "memory", keyring=database.keyring, parent=app)
    root = getattr(app.serverapp, "root_dir", None) or "."
    indexer = Indexer(memory, root)
    follower = MemoryFollower(
        indexer, watcher, Path(app.data_dir) / STATE_FILE, events, enabled=app.memory_follow_files
    )
    learn_jobs = LearnJobs(indexer, scheduler, events, follower)
    learning = learning_class(database, memory, router.routing if router else None, parent=app)
    if router is None or pipeline is None:
        return CoreServices(memory, indexer, learn_jobs, follower, learning, None)
    classifier_class: type[IntentClassifier] = app.intent_classifier_class
    context_class: type[ContextManager] = app.context_manager_class
    classifier = classifier_class(tie_breaker=llm_tie_breaker(pipeline), parent=app)
    context = context_class(app.serverapp, memory, parent=app)
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
