"""Durable state: open the configured store (SQLite, PostgreSQL, optionally Redis for single use).

``open_store(settings)`` is the one way in; the rest of the bridge sees only the
:class:`Store` interface and its records. Driver modules are imported on demand, so
an SQLite instance never loads psycopg or redis.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from bridge.config import Settings
from bridge.errors import ConfigError, StoreConflict
from bridge.store.base import ApiKeyRecord, AuditEvent, BillerRecord, KeyRecord, MetadataFetch, Store
from bridge.store.schema import SchemaStatus
from bridge.store.sql import OnceSet, SqlStore
from bridge.store.sqlite import SqliteBackend, sqlite_path

__all__ = [
    "STORE_SCHEMES",
    "ApiKeyRecord",
    "AuditEvent",
    "BillerRecord",
    "KeyRecord",
    "MetadataFetch",
    "SchemaStatus",
    "SqlStore",
    "Store",
    "StoreConflict",
    "display_url",
    "open_store",
    "open_store_url",
]


STORE_SCHEMES = ("sqlite:///", "postgresql://", "postgres://")


def display_url(url: str) -> str:
    """The store URL without its password (for messages and output)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def open_store(settings: Settings) -> SqlStore:
    """The store ``[store]`` describes. Not migrated: call ``migrate()`` (or ``icbridge db upgrade``)."""
    store = settings.store
    return open_store_url(store.url, base_dir=settings.base_dir, redis_url=store.redis_url, pool_size=store.pool_size)


def open_store_url(
    url: str,
    *,
    base_dir: Path,
    redis_url: str | None = None,
    pool_size: int = 10,
    timeout: float = 5.0,
    redis_prefix: str = "bridge:once:",
) -> SqlStore:
    """``timeout`` bounds every wait: SQLite's write lock, a pooled connection, a Redis reply."""
    once: OnceSet | None = None
    if redis_url:
        from bridge.store.redis_once import RedisOnceSet

        once = RedisOnceSet.from_url(redis_url, timeout=timeout, prefix=redis_prefix)
    if url.startswith("sqlite:///"):
        return SqlStore(SqliteBackend(sqlite_path(url, base_dir=base_dir), busy_timeout=timeout), once=once)
    if url.startswith(("postgresql://", "postgres://")):
        from bridge.store.postgres import PostgresBackend

        return SqlStore(PostgresBackend(url, pool_size=pool_size, timeout=timeout), once=once)
    raise ConfigError(f"store.url: {url!r} must start with sqlite:/// or postgresql://")
