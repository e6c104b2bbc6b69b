"""The model routing file: for each task, the chain of models tried in order, and its limits.

The shipped default lives in ``models/routing.yaml``; ``NexusApp.routing_file``
points at another. The file is checked against a JSON schema at start-up and
an error names the bad key (``tasks.completion.limits.timeout_s``). ``${VAR}``
and ``${VAR:-default}`` are read from the environment *after* validation, so
API keys never sit in the file and never appear in an error message. A provider
whose ``base_url`` or ``api_key`` ends up empty is "unconfigured" and skipped,
which is how the shipped chain works offline (gateway, openai, anthropic
unconfigured -> local). The optional ``policy`` section is the admin's
allow/block list for providers and models. The ``completion`` task may have a ``gate``: inline
suggestions the model was unsure of are not shown (``completion.py``).
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from ..api_models import ChainStepStatus, ProviderHosting, ProviderSetup, TaskRouting
from .completion import CompletionGate

_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")

TASKS = ("code_generation", "natural_language", "code_analysis", "completion", "embeddings", "agent")

_LIMITS = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "timeout_s": {"type": "number", "exclusiveMinimum": 0, "maximum": 3600},
        "max_tokens": {"type": "integer", "minimum": 1, "maximum": 32768},
        "latency_budget_ms": {"type": "number", "exclusiveMinimum": 0},
    },
}

# The completion task's confidence gate (``completion.py``): thresholds per chain-step model name.
_CONFIDENCE = {"type": "number", "minimum": 0, "maximum": 1}
_GATE = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "enabled": {"type": "boolean"},
        "min_confidence": _CONFIDENCE,
        "models": {"type": "object", "additionalProperties": _CONFIDENCE},
    },
}

SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["providers", "tasks"],
    "properties": {
        "providers": {
            "type": "object",
            "minProperties": 1,
            "additionalProperties": {
                "type": "object",
                "required": ["kind"],
                "properties": {
                    "kind": {"type": "string", "minLength": 1},
                    "base_url": {"type": "string"},
                    "api_key": {"type": "string"},
                    "model": {"type": "string"},
                    "device": {"type": "string", "enum": ["auto", "cpu", "cuda", "mps"]},
                    "backend": {"type": "string", "enum": ["transformers", "llama_cpp"]},
                    "max_queue": {"type": "integer", "minimum": 1, "maximum": 1024},
                    "timeout_s": {"type": "number", "exclusiveMinimum": 0},
                    "failure_threshold": {"type": "integer", "minimum": 1},
                    "cooldown_s": {"type": "number", "minimum": 0},
                    "probe_interval_s": {"type": "number", "minimum": 0},
                    "headers": {"type": "object", "additionalProperties": {"type": "string"}},
                    "api_version": {"type": "string"},
                    "fim": {"type": "boolean"},
                },
                "additionalProperties": False,
            },
        },
        "tasks": {
            "type": "object",
            "minProperties": 1,
            "additionalProperties": {
                "type": "object",
                "additionalProperties": False,
                "required": ["chain"],
                "properties": {
                    "chain": {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": "object",
                            "additionalProperties": False,
                            "required": ["provider", "model"],
                            "properties": {
                                "provider": {"type": "string", "minLength": 1},
                                "model": {"type": ["string", "number"]},
                            },
                        },
                    },
                    "limits": _LIMITS,
                    "gate": _GATE,
                },
            },
        },
        "policy": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                key: {"type": "array", "items": {"type": "string"}}
                for key in ("allow_providers", "block_providers", "allow_models", "block_models")
            },
        },
    },
}

# Public APIs billed per token: ``/status`` says plainly when a chain's paid providers have no key.
# Any other remote endpoint (the team's model gateway, a self-hosted server) is a gateway.
PAID_API_HOSTS = (
    "api.openai.com",
    "*.openai.azure.com",
    "api.anthropic.com",
    "api.mistral.ai",
    "generativelanguage.googleapis.com",
    "api.groq.com",
    "api.together.xyz",
    "api.deepseek.com",
    "api.fireworks.ai",
    "api.x.ai",
    "openrouter.ai",
)

DEFAULT_LIMITS = {"timeout_s": 120.0, "max_tokens": 512, "latency_budget_ms": 30000.0}


def bundled_models_dir() -> Path:
    """``models/`` inside the installed package (wheel) or at the repository root (editable install)."""
    packaged = Path(__file__).resolve().parents[1] / "models"
    return packaged if packaged.is_dir() else Path(__file__).resolve().parents[2] / "models"


def default_routing_file() -> Path:
    return bundled_models_dir() / "routing.yaml"


def interpolate(value: Any) -> Any:
    """Replace ``${VAR}`` / ``${VAR:-default}`` in every string of a parsed YAML tree."""
    if isinstance(value, str):
        return _ENV.sub(lambda m: os.environ.get(m.group(1), m.group(2) or ""), value)
    if isinstance(value, dict):
        return {k: interpolate(v) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v) for v in value]
    return value


class RoutingError(ValueError):
    """The routing file is unreadable or invalid; the message names the file and key."""


@dataclass(frozen=True)
class TaskLimits:
    timeout_s: float
    max_tokens: int
    latency_budget_ms: float


@dataclass(frozen=True)
class ChainStep:
    provider: str
    model: str


@dataclass
class RoutingConfig:
    source: Path
    providers: dict[str, dict[str, Any]]
    tasks: dict[str, dict[str, Any]]
    raw: dict[str, Any] = field(repr=False, default_factory=dict)
    policy: dict[str, list[str]] = field(default_factory=dict)

    def chains(self, keys: Mapping[str, str] | None = None) -> list[TaskRouting]:
        """The chain per task, as shown by ``/status`` (no URLs, no keys): each step says whether the
        router would try it. ``keys``: the caller's stored API keys by provider, which configure too."""
        keys = keys or {}
        return [
            TaskRouting(
                task=task,
                chain=[
                    ChainStepStatus(
                        provider=s.provider,
                        model=s.model,
                        hosting=self.hosting(s.provider),
                        setup=self.setup(s.provider, keys.get(s.provider)),
                        blocked=self.blocked_reason(s.provider, s.model),
                    )
                    for s in self.chain(task)
                ],
            )
            for task in self.tasks
        ]

    def chain(self, task: str) -> list[ChainStep]:
        spec = self.tasks.get(task)
        if spec is None:
            return []
        return [ChainStep(str(s["provider"]), str(s["model"])) for s in spec["chain"]]

    def limits(self, task: str) -> TaskLimits:
        values = {**DEFAULT_LIMITS, **((self.tasks.get(task) or {}).get("limits") or {})}
        return TaskLimits(
            float(values["timeout_s"]), int(values["max_tokens"]), float(values["latency_budget_ms"])
        )

    def completion_gate(self) -> CompletionGate:
        """The completion task's confidence gate (off when the file has none)."""
        return CompletionGate.from_spec((self.tasks.get("completion") or {}).get("gate"))

    def configured(self, provider: str) -> bool:
        """Remote providers need a base URL and a key; the local one always counts as configured."""
        return self.setup(provider) == "configured"

    def setup(self, provider: str, key: str | None = None) -> ProviderSetup:
        """What a provider lacks, by the rule the router skips it by (``Provider.configured``);
        ``key``: one stored through the secrets API, which stands in for the routing file's."""
        spec = self.providers.get(provider) or {}
        if spec.get("kind") == "local":
            return "configured"
        if not spec.get("base_url"):
            return "not_configured"
        return "configured" if key or spec.get("api_key") else "no_key"

    def hosting(self, provider: str) -> ProviderHosting:
        """Local, a paid public API (by its base URL's host), or any other endpoint (a gateway)."""
        spec = self.providers.get(provider) or {}
        if spec.get("kind") == "local":
            return "local"
        try:
            host = urlsplit(str(spec.get("base_url") or "")).hostname or ""
        except ValueError:  # a malformed URL: the provider fails when asked, and is no known paid API
            host = ""
        return "paid_api" if any(fnmatch.fnmatchcase(host, p) for p in PAID_API_HOSTS) else "gateway"

    def blocked_reason(self, provider: str, model: str) -> str | None:
        """Why the admin policy forbids this step, or None when it is allowed."""
        policy = self.policy
        if provider in policy.get("block_providers", []):
            return "provider blocked by policy"
        allow_p = policy.get("allow_providers") or []
        if allow_p and provider not in allow_p:
            return "provider not in the allow list"
        names = (model, f"{provider}:{model}")
        if any(fnmatch.fnmatchcase(n, pat) for pat in policy.get("block_models", []) for n in names):
            return "model blocked by policy"
        allow_m = policy.get("allow_models") or []
        if allow_m and not any(fnmatch.fnmatchcase(n, pat) for pat in allow_m for n in names):
            return "model not in the allow list"
        return None


def _where(path: Any) -> str:
    parts: list[str] = []
    for p in path:
        parts.append(f"[{p}]" if isinstance(p, int) else ("." if parts else "") + str(p))
    return "".join(parts) or "(top level)"


def validate_routing(raw: Any, source_name: str) -> None:
    """Raise ``RoutingError`` naming the first bad key; values are never echoed (they may be secrets)."""
    import jsonschema

    tasks = raw.get("tasks") if isinstance(raw, dict) else None
    for name in tasks if isinstance(tasks, dict) else ():
        if name not in TASKS:
            raise RoutingError(
                f"routing file {source_name}: tasks.{name} is an unknown task name "
                f"(known: {', '.join(TASKS)})"
            )
        spec = tasks[name] if isinstance(tasks, dict) else None
        if name != "completion" and isinstance(spec, dict) and "gate" in spec:
            raise RoutingError(
                f"routing file {source_name}: tasks.{name}.gate is for the completion task only"
            )
    validator = jsonschema.Draft202012Validator(SCHEMA)
    errors = sorted(validator.iter_errors(raw), key=lambda e: (len(e.absolute_path), list(e.absolute_path)))
    if errors:
        err = errors[0]
        where = _where(err.absolute_path)
        if err.validator == "additionalProperties":
            extra = sorted(set(err.instance) - set(err.schema.get("properties", {})))
            where = f"{where}.{extra[0]}" if err.absolute_path else extra[0]
            reason = "is not a known key"
        elif err.validator == "required":
            reason = f"is missing {err.message.split(' is a required')[0]}"
        else:
            reason = f"must satisfy '{err.validator}: {err.validator_value}'"
        raise RoutingError(f"routing file {source_name}: {where} {reason}")
    for task, spec in raw["tasks"].items():
        for i, step in enumerate(spec["chain"]):
            if step["provider"] not in raw["providers"]:
                raise RoutingError(
                    f"routing file {source_name}: tasks.{task}.chain[{i}].provider "
                    f"'{step['provider']}' is not in 'providers'"
                )


def parse_routing(raw: Any, source: Path) -> RoutingConfig:
    validate_routing(raw, source.name)
    return RoutingConfig(
        source=source,
        providers=interpolate(raw["providers"]),
        tasks=raw["tasks"],
        raw=raw,
        policy=raw.get("policy") or {},
    )


def load_routing(path: str | Path | None = None) -> RoutingConfig:
    source = Path(path) if path else default_routing_file()
    try:
        raw = yaml.safe_load(source.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise RoutingError(f"cannot read the routing file {source.name}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise RoutingError(f"the routing file {source.name} is not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise RoutingError(f"the routing file {source.name} must be a mapping with 'providers' and 'tasks'")
    return parse_routing(raw, source)
