"""Persistence: the SQL schema, the database service and the stores built on it."""

from __future__ import annotations

from .database import Database, StorageError, normalise_url, redact_url

__all__ = ["Database", "StorageError", "normalise_url", "redact_url"]
