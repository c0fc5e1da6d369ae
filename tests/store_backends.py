"""Store backends for tests: each kind gives a fresh, migrated store that no other test can see.

Any test package may use these (tests/store/conftest.py builds its ``store`` fixture on
them). Kinds:

* ``sqlite``: a database file in the test's ``tmp_path``.
* ``postgres``: the server at 127.0.0.1:5432, database ``test``, in a schema made for the
  test (``search_path`` set through the URL's ``options``) and dropped after it.
* ``redis``: SQLite for everything but single-use marks, which go to Redis at
  127.0.0.1:6379 under a key prefix made for the test and deleted after it.

A server that does not answer skips the test with the reason; nothing passes silently.
Override the servers with BRIDGE_TEST_POSTGRES_URL / BRIDGE_TEST_REDIS_URL.
"""

from __future__ import annotations

import functools
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest

from bridge.store import SqlStore, open_store_url

BACKENDS = ["sqlite", "postgres"]
ONCE_BACKENDS = [*BACKENDS, "redis"]  # where use_once may live

POSTGRES_URL = os.environ.get("BRIDGE_TEST_POSTGRES_URL", "postgresql://127.0.0.1:5432/test")
REDIS_URL = os.environ.get("BRIDGE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _where(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.hostname or 'localhost'}:{parts.port or ''}".rstrip(":")


@functools.cache
def _postgres_problem() -> str | None:
    import psycopg

    try:
        psycopg.connect(POSTGRES_URL, connect_timeout=3, autocommit=True).close()
    except psycopg.Error as exc:
        return str(exc).strip().splitlines()[0]
    return None


@functools.cache
def _redis_problem() -> str | None:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3).ping()
    except redis.RedisError as exc:
        return str(exc)
    return None


def require_postgres() -> None:
    problem = _postgres_problem()
    if problem:
        pytest.skip(f"PostgreSQL not reachable at {_where(POSTGRES_URL)}: {problem}")


def require_redis() -> None:
    problem = _redis_problem()
    if problem:
        pytest.skip(f"Redis not reachable at {_where(REDIS_URL)}: {problem}")


def with_search_path(url: str, schema: str) -> str:
    """``url`` whose connections see ``schema`` first (libpq ``options=-c search_path=...``)."""
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}options={quote(f'-c search_path={schema}')}"


@contextmanager
def postgres_schema() -> Iterator[str]:
    """A URL into a fresh, empty schema, dropped (with everything in it) afterwards."""
    import psycopg

    require_postgres()
    schema = f"test_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield with_search_path(POSTGRES_URL, schema)
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


@contextmanager
def redis_prefix() -> Iterator[str]:
    """A key prefix of the test's own, its keys deleted afterwards."""
    import redis

    require_redis()
    prefix = f"test:{uuid.uuid4().hex[:16]}:"
    try:
        yield prefix
    finally:
        client = redis.Redis.from_url(REDIS_URL)
        keys = list(client.scan_iter(match=f"{prefix}*"))
        if keys:
            client.delete(*keys)
        client.close()


@contextmanager
def store_url(kind: str, tmp_path: Path) -> Iterator[str]:
    """A ``store.url`` for ``kind`` (``sqlite`` or ``postgres``), isolated for one test; not migrated."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'bridge.db'}"
    elif kind == "postgres":
        with postgres_schema() as url:
            yield url
    else:
        raise ValueError(f"unknown store kind {kind!r}")


@contextmanager
def make_store(kind: str, tmp_path: Path, *, migrate: bool = True) -> Iterator[SqlStore]:
    """An open store of ``kind`` (``sqlite``, ``postgres`` or ``redis``), migrated unless told not to."""
    with _opened(kind, tmp_path) as store:
        try:
            if migrate:
                store.migrate()
            yield store
        finally:
            store.close()


@contextmanager
def _opened(kind: str, tmp_path: Path) -> Iterator[SqlStore]:
    if kind == "redis":
        with redis_prefix() as prefix, store_url("sqlite", tmp_path) as url:
            yield open_store_url(url, base_dir=tmp_path, redis_url=REDIS_URL, redis_prefix=prefix)
    else:
        with store_url(kind, tmp_path) as url:
            yield open_store_url(url, base_dir=tmp_path, pool_size=4)
