"""Services own their settings: ``c.<Class>.<trait>`` reaches the service in a real server, a
``NexusApp.*_class`` trait replaces a service's class, and the settings' old ``NexusApp`` names keep
working for one release (``MOVED_SETTINGS``), each with one warning naming the new spelling."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from traitlets.utils.importstring import import_item

from nexus_server_ext.app import NexusApp
from nexus_server_ext.app_settings import MOVED_SETTINGS, OTHER_CONFIGURABLES, ServiceClass
from nexus_server_ext.memory.vector_memory import VectorMemory
from nexus_server_ext.security.ratelimit import RateLimiter


class RecordingMemory(VectorMemory):
    """A vector memory subclass, as a deployment would plug in through ``NexusApp.memory_class``."""


class StrictLimiter(RateLimiter):
    pass


def service_classes() -> dict[str, type]:
    """Every class that owns a moved setting, by name (the ``*_class`` defaults and the other
    configurables)."""
    classes: dict[str, type] = {}
    for trait in NexusApp.class_own_traits(config=True).values():
        if isinstance(trait, ServiceClass):
            default = trait.default_value  # a dotted name until an app first reads the trait
            cls = default if isinstance(default, type) else import_item(default)
            classes[cls.__name__] = cls
    for dotted in OTHER_CONFIGURABLES:
        cls = import_item(dotted)
        classes[cls.__name__] = cls
    return classes


def test_every_old_name_maps_to_a_setting_of_its_service() -> None:
    classes = service_classes()
    own = NexusApp.class_own_traits(config=True)
    for old, (owner, new) in MOVED_SETTINGS.items():
        assert old not in own, f"NexusApp.{old} moved: it is no NexusApp trait any more"
        assert new in classes[owner].class_traits(config=True), f"{owner}.{new} is not a setting"


def test_the_service_classes_are_imported_on_first_use_only() -> None:
    """Creating the app (and ExtensionApp's config step) imports none of the deferred services."""
    code = (
        "import sys; from nexus_server_ext.app import NexusApp; app = NexusApp(); app._prepare_config(); "
        "print('nexus_server_ext.ai.learning' in sys.modules, 'sqlalchemy' in sys.modules); "
        "app.learning_class; print('nexus_server_ext.ai.learning' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False", "True"]


@pytest.fixture
def nexus_warnings() -> Iterator[list[str]]:
    """Warnings NexusApp logs, from before the server starts. A filter on its logger sees each record
    (the app's logging set-up replaces the logger's handlers, not its filters)."""
    seen: list[str] = []

    class Collect(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            if record.levelno >= logging.WARNING:
                seen.append(record.getMessage())
            return True

    collect = Collect()
    logger = logging.getLogger("NexusApp")
    logger.addFilter(collect)
    yield seen
    logger.removeFilter(collect)


class TestNewSettings:
    @pytest.fixture
    def jp_server_config(self, nexus_config: Any, nexus_warnings: list[str]) -> dict[str, Any]:
        return nexus_config(
            other={
                "RateLimiter": {
                    "per_minute": 7.0,
                    "burst": 3,
                    "classes": {"chat": {"per_minute": 5, "burst": 2}},
                },
                "ModelRouter": {"failure_threshold": 9, "cooldown_s": 4.0},
                "ContextManager": {"budget_tokens": 900, "memory_results": 2, "min_memory_score": 0.5},
                "LanguageServers": {"timeout_s": 1.5, "ignore_sources": ["pycodestyle"]},
                "VectorMemory": {"hnsw_ef_search": 64},
                "IntentClassifier": {"margin": 0.05, "llm_tie_breaker": False},
                "LearningSystem": {"adaptive_routing": False, "min_samples": 5, "max_shift": 2},
            }
        )

    async def test_each_service_reads_its_own_class_settings(
        self, nexus_services: Any, nexus_warnings: list[str]
    ) -> None:
        limiter = nexus_services.rate_limiter
        assert (limiter.per_minute, limiter.burst) == (7.0, 3)
        assert limiter.policy("chat").per_minute == 5 and limiter.policy("voice").per_minute == 7.0
        router = nexus_services.router
        assert (router.failure_threshold, router.cooldown_s) == (9, 4.0)
        assert {h.failure_threshold for h in router.health.values()} == {9}

        await nexus_services.ready()  # the core is built on first use
        built = nexus_services.deferred
        context = built.core.context
        assert (context.budget_tokens, context.memory_results, context.min_memory_score) == (900, 2, 0.5)
        assert context.language_servers.timeout_s == 1.5
        assert context.language_servers.ignore_sources == ["pycodestyle"]
        assert built.memory.hnsw.ef_search == 64 and built.memory.hnsw.ef_construction == 200
        classifier = built.core.classifier
        assert (classifier.margin, classifier.llm_tie_breaker) == (0.05, False)
        learning = built.learning
        assert (learning.adaptive_routing, learning.min_samples, learning.max_shift) == (False, 5, 2)
        assert not [w for w in nexus_warnings if "c.NexusApp." in w]


class TestOldNames:
    @pytest.fixture
    def jp_server_config(self, nexus_config: Any, nexus_warnings: list[str]) -> dict[str, Any]:
        return nexus_config(
            rate_limit_per_minute=7.0,
            rate_limits={"chat": {"per_minute": 5, "burst": 2}},
            memory_results=2,
            lsp_timeout_s=1.5,
            routing_min_samples=9,  # ignored: its new name is set too
            other={"LearningSystem": {"min_samples": 5}},
        )

    @pytest.fixture
    def jp_argv(self) -> list[str]:
        return ["--NexusApp.rate_limit_burst=4"]  # the command line's spelling works too

    async def test_old_names_reach_the_service_with_one_warning_each(
        self, nexus_services: Any, nexus_warnings: list[str]
    ) -> None:
        limiter = nexus_services.rate_limiter
        assert (limiter.per_minute, limiter.burst) == (7.0, 4)
        assert limiter.policy("chat").per_minute == 5
        await nexus_services.ready()
        built = nexus_services.deferred
        assert built.core.context.memory_results == 2
        assert built.core.context.language_servers.timeout_s == 1.5
        assert built.learning.min_samples == 5

        moved = [w for w in nexus_warnings if "c.NexusApp." in w]
        for old, new in [
            ("rate_limit_per_minute", "RateLimiter.per_minute"),
            ("rate_limit_burst", "RateLimiter.burst"),
            ("rate_limits", "RateLimiter.classes"),
            ("memory_results", "ContextManager.memory_results"),
            ("lsp_timeout_s", "LanguageServers.timeout_s"),
        ]:
            said = [w for w in moved if f"c.NexusApp.{old} " in w]
            assert len(said) == 1 and f"is now c.{new}" in said[0], said
        ignored = [w for w in moved if "c.NexusApp.routing_min_samples " in w]
        assert (
            len(ignored) == 1 and "is ignored" in ignored[0] and "c.LearningSystem.min_samples" in ignored[0]
        )
        assert len(moved) == 6
        # traitlets' own "not recognized" warning is not repeated for the old names
        assert not [w for w in nexus_warnings if "not recognized" in w]


class TestReplacedClasses:
    @pytest.fixture
    def jp_server_config(self, nexus_config: Any) -> dict[str, Any]:
        return nexus_config(
            memory_class=RecordingMemory,
            rate_limiter_class=f"{__name__}.StrictLimiter",  # a dotted name, as a config file may give
            other={"VectorMemory": {"hnsw_ef_search": 64}, "RateLimiter": {"burst": 3}},
        )

    async def test_the_server_uses_the_configured_classes_with_their_settings(
        self, nexus_services: Any
    ) -> None:
        assert type(nexus_services.rate_limiter) is StrictLimiter
        assert nexus_services.rate_limiter.burst == 3  # the base class's settings apply to a subclass
        await nexus_services.ready()
        memory = nexus_services.deferred.memory
        assert type(memory) is RecordingMemory
        assert memory.hnsw_ef_search == 64
        assert nexus_services.deferred.core.memory is memory  # the one memory the core uses


def test_a_class_that_is_no_subclass_is_refused() -> None:
    from traitlets import TraitError

    with pytest.raises(TraitError, match="memory_class"):
        NexusApp(memory_class=RateLimiter)


class TestServiceSettingsThatLeftNexusApp:
    """The audit log, the memory follower and the chat own the settings they use; the old NexusApp
    names still reach them, each with a warning naming the new spelling."""

    @pytest.fixture
    def jp_server_config(self, nexus_config: Any, nexus_warnings: list[str]) -> dict[str, Any]:
        return nexus_config(
            audit_retention_days=30,
            memory_follow_files=False,
            other={"AuditLog": {"log_prompts": True}, "ConsciousnessCore": {"max_tokens": 9}},
        )

    @pytest.fixture
    def jp_argv(self) -> list[str]:
        return ["--NexusApp.chat_max_tokens=11"]  # an old name and a new one for the same setting

    async def test_each_reaches_its_service(self, nexus_services: Any, nexus_warnings: list[str]) -> None:
        await nexus_services.ready()
        built = nexus_services.deferred
        assert (built.audit.retention_days, built.audit.log_prompts) == (30, True)
        assert built.follower.enabled is False
        assert built.core.max_tokens == 9  # the new name wins over the old one
        moved = [w for w in nexus_warnings if "c.NexusApp." in w]
        assert any("c.NexusApp.audit_retention_days is now c.AuditLog.retention_days" in w for w in moved)
        assert any("c.NexusApp.memory_follow_files is now c.MemoryFollower.enabled" in w for w in moved)
        assert any("c.NexusApp.chat_max_tokens is ignored" in w for w in moved)
