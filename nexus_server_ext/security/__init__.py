"""The gateway part of NEXUS: rate limits, the audit trail and encryption at rest (auth itself is Jupyter's).

Names are imported lazily: ``store.models`` imports ``security.crypto``, and the
audit log imports the store, so an eager import here would be circular.
"""

from __future__ import annotations

from typing import Any

__all__ = ["AuditLog", "RateLimiter"]


def __getattr__(name: str) -> Any:
    if name == "AuditLog":
        from .audit import AuditLog

        return AuditLog
    if name == "RateLimiter":
        from .ratelimit import RateLimiter

        return RateLimiter
    raise AttributeError(name)
