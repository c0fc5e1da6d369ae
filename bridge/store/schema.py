"""Schema migrations: versioned SQL files in ``migrations/``, applied in order, recorded in ``schema_version``.

``NNNN_name.sql`` serves both databases, ``NNNN_name.<dialect>.sql`` one of them. All
pending migrations run in one transaction; on PostgreSQL an advisory lock (the dialect's
``migration_lock``) makes a second process wait and then find the work done, on SQLite
``BEGIN IMMEDIATE`` does the same.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING

from bridge.errors import ConfigError

if TYPE_CHECKING:
    from bridge.store.sql import Backend

_SCHEMA_VERSION = """CREATE TABLE IF NOT EXISTS schema_version (
    version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_us BIGINT NOT NULL)"""
_VERSIONS = "SELECT version FROM schema_version"
_RECORD_VERSION = "INSERT INTO schema_version (version, name, applied_us) VALUES (?, ?, ?)"


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...]


@dataclass(frozen=True)
class SchemaStatus:
    current: int  # 0 before the first migration
    latest: int
    pending: tuple[str, ...]


def split_statements(text: str) -> tuple[str, ...]:
    """Split a migration on ``;`` at line ends, dropping whole-line ``--`` comments."""
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("--")]
    chunks = "\n".join(lines).split(";\n")
    return tuple(chunk.strip().rstrip(";") for chunk in chunks if chunk.strip())


@functools.cache
def migrations(dialect: str) -> tuple[Migration, ...]:
    """Oldest first."""
    found: dict[int, Migration] = {}
    for entry in (resources.files("bridge.store") / "migrations").iterdir():
        stem, _, suffix = entry.name.partition(".")
        if suffix not in ("sql", f"{dialect}.sql"):
            continue
        version = int(stem.split("_", 1)[0])
        if version in found:
            raise ConfigError(f"two migrations numbered {version:04d} for {dialect}")
        found[version] = Migration(version, stem, split_statements(entry.read_text()))
    return tuple(found[v] for v in sorted(found))


def migrate(backend: Backend, *, applied_us: int) -> None:
    """Apply every pending migration in one transaction, recording each with ``applied_us``."""
    dialect = backend.dialect
    with backend.transaction() as cur:
        if dialect.migration_lock:
            cur.execute(dialect.migration_lock)
        cur.execute(_SCHEMA_VERSION)
        cur.execute(_VERSIONS)
        done = {row[0] for row in cur.fetchall()}
        for migration in migrations(dialect.name):
            if migration.version in done:
                continue
            for statement in migration.statements:
                cur.execute(statement)
            cur.execute(dialect.sql(_RECORD_VERSION), (migration.version, migration.name, applied_us))


def status(backend: Backend) -> SchemaStatus:
    known = migrations(backend.dialect.name)
    with backend.read() as cur:
        cur.execute(backend.dialect.sql(backend.dialect.table_exists), ("schema_version",))
        row = cur.fetchone()
        done: set[int] = set()
        if row is not None and row[0] is not None:
            cur.execute(_VERSIONS)
            done = {r[0] for r in cur.fetchall()}
    pending = tuple(m.name for m in known if m.version not in done)
    return SchemaStatus(max(done, default=0), known[-1].version if known else 0, pending)
