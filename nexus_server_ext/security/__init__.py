"""The gateway part of NEXUS: rate limits and the audit trail (auth itself is Jupyter's)."""

from __future__ import annotations

from .audit import AuditLog
from .ratelimit import RateLimiter

__all__ = ["AuditLog", "RateLimiter"]
