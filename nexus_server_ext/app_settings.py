"""How ``NexusApp`` reads its configuration: the replaceable service classes, the settings that
moved from ``NexusApp`` to the services that use them (still read under their old names, with a
warning, for one release), and the model-preload spellings."""

from __future__ import annotations

import logging
from typing import Any

from traitlets import TraitError, Type
from traitlets.config import Config

# NEXUS_PRELOAD_MODEL=1 / 0 (the variable's older boolean meaning) and friends.
PRELOAD_ALIASES = {
    "1": "start",
    "true": "start",
    "yes": "start",
    "0": "never",
    "false": "never",
    "no": "never",
}


# Settings that moved from NexusApp to the service that uses them: old NexusApp name -> (class, new
# name). A value configured under the old name still reaches the service, with a warning, for one
# release (``move_old_settings``); then this table goes.
MOVED_SETTINGS: dict[str, tuple[str, str]] = {
    "breaker_failure_threshold": ("ModelRouter", "failure_threshold"),
    "breaker_cooldown_s": ("ModelRouter", "cooldown_s"),
    "rate_limit_per_minute": ("RateLimiter", "per_minute"),
    "rate_limit_burst": ("RateLimiter", "burst"),
    "rate_limits": ("RateLimiter", "classes"),
    "chroma_host": ("VectorMemory", "chroma_host"),
    "chroma_port": ("VectorMemory", "chroma_port"),
    "chroma_ssl": ("VectorMemory", "chroma_ssl"),
    "memory_hnsw_ef_search": ("VectorMemory", "hnsw_ef_search"),
    "memory_hnsw_ef_construction": ("VectorMemory", "hnsw_ef_construction"),
    "memory_hnsw_max_neighbors": ("VectorMemory", "hnsw_max_neighbors"),
    "context_budget_tokens": ("ContextManager", "budget_tokens"),
    "memory_results": ("ContextManager", "memory_results"),
    "memory_min_score": ("ContextManager", "min_memory_score"),
    "lsp_timeout_s": ("LanguageServers", "timeout_s"),
    "lsp_ignore_sources": ("LanguageServers", "ignore_sources"),
    "intent_margin": ("IntentClassifier", "margin"),
    "intent_llm_tie_breaker": ("IntentClassifier", "llm_tie_breaker"),
    "adaptive_routing": ("LearningSystem", "adaptive_routing"),
    "routing_min_samples": ("LearningSystem", "min_samples"),
    "routing_demote_below": ("LearningSystem", "demote_below"),
    "routing_max_shift": ("LearningSystem", "max_shift"),
    "audit_retention_days": ("AuditLog", "retention_days"),
    "audit_log_prompts": ("AuditLog", "log_prompts"),
    "memory_follow_files": ("MemoryFollower", "enabled"),
    "chat_max_tokens": ("ConsciousnessCore", "max_tokens"),
}

# The configurable classes that are not replaceable through a ``NexusApp.*_class`` trait (those are
# the services' own classes): each reads ``c.<Class>.<setting>``. The config reference lists them.
OTHER_CONFIGURABLES: tuple[str, ...] = (
    "nexus_server_ext.chat.consciousness.ConsciousnessCore",
    "nexus_server_ext.context.lsp.LanguageServers",
    "nexus_server_ext.memory.follower.MemoryFollower",
    "nexus_server_ext.security.audit.AuditLog",
    "nexus_server_ext.ai.embeddings.Embedder",
    "nexus_server_ext.ai.model_pulls.ModelPulls",
    "nexus_server_ext.voice.transcriber.Transcriber",
    "nexus_server_ext.voice.mapper.VoiceCommandMapper",
    "nexus_server_ext.tasks.TaskScheduler",
    "nexus_server_ext.projects.manager.ProjectManager",
    "nexus_server_ext.agent.service.AgentService",
    "nexus_server_ext.mcp.client.MCPServers",
    "nexus_server_ext.mcp.server.NexusMCP",
    "nexus_server_ext.diagnosis.checker.FixChecker",
    "nexus_server_ext.gateway.llama_server.LlamaServer",  # the model gateway's (its --config file)
)


def without_moved(cfg: Config) -> Config:
    """``cfg`` without the old names in its NexusApp section (traitlets would warn about each, each
    time config is loaded; ``move_old_settings`` warns once)."""
    if "NexusApp" not in cfg or not MOVED_SETTINGS.keys() & cfg["NexusApp"].keys():
        return cfg
    cfg = Config(cfg)  # a shallow copy: only its NexusApp section is replaced
    cfg["NexusApp"] = Config({k: v for k, v in cfg["NexusApp"].items() if k not in MOVED_SETTINGS})
    return cfg


def move_old_settings(config: Config, log: logging.Logger | logging.LoggerAdapter[Any]) -> None:
    """Copy each setting configured under its old ``NexusApp`` name to its service's class (unless
    that is configured itself), with one warning naming the new spelling."""
    if "NexusApp" not in config:
        return
    old = config["NexusApp"]
    for name, (owner, new) in MOVED_SETTINGS.items():
        if name not in old:
            continue
        section = config[owner]
        if new in section:
            log.warning(
                "NEXUS: c.NexusApp.%s is ignored: its new name, c.%s.%s, is set too", name, owner, new
            )
            continue
        section[new] = old[name]
        log.warning(
            "NEXUS: c.NexusApp.%s is now c.%s.%s (--%s.%s=... on the command line); "
            "the old name will stop working in the next release",
            name,
            owner,
            new,
            owner,
            new,
        )


class ServiceClass(Type):
    """A ``Type`` trait for a replaceable service, its default and base class given by dotted name.

    ``Type`` imports both when the app is created; this imports them when the trait is first read or
    set, so a service built on first use (``deferred.py``) is not imported by the server start.
    """

    def __init__(self, name: str, help: str) -> None:
        super().__init__(default_value=name, klass=name, help=help)
        self.tag(config=True)

    def instance_init(self, obj: Any) -> None:
        pass  # resolved in validate, on first use

    def validate(self, obj: Any, value: Any) -> Any:
        self._resolve_classes()
        return super().validate(obj, value)


def preload_when(value: Any) -> str:
    when = str(value).strip().lower()
    when = PRELOAD_ALIASES.get(when, when)
    if when not in ("start", "first-client", "never"):
        raise TraitError(f"preload_local_model is start, first-client or never, not {value!r}")
    return when
