"""PostgreSQL connections for the store: a psycopg 3 connection pool shared by the process's threads.

Connections run in autocommit mode, so a one-statement write (use_once, record_audit)
is one round trip with no BEGIN/COMMIT; several statements use an explicit transaction.
psycopg prepares a statement on the server once a connection has run it a few times,
and every query text is a cached constant, so the hot path parses nothing new.
A connection that sat idle longer than ``check_after`` seconds is tested before it is lent
(one round trip), so after a database restart or failover the dead idle connections are
replaced instead of failing a request each; a connection in steady use is lent untested.
A connection that breaks in use fails its one request with StoreUnavailable and the pool
replaces it. Open the store after forking, never before.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

import psycopg
from psycopg_pool import ConnectionPool

from bridge.errors import StoreConflict, StoreUnavailable
from bridge.store.sql import Dialect

# Any constant will do; it only has to be the same in every process that migrates.
_MIGRATION_LOCK_ID = 0x5A3D_B41D
CHECK_AFTER = 1.0  # seconds idle after which a pooled connection is tested before use
T = TypeVar("T")

DIALECT = Dialect(
    name="postgres",
    label="PostgreSQL",
    placeholder="%s",
    table_exists="SELECT to_regclass(?)",
    # Held until the migration transaction ends; a second process waits, then sees the work done.
    migration_lock=f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK_ID})",
    data_modifying_cte=True,
)


class PostgresBackend:
    """A pool of ``pool_size`` connections; ``timeout`` bounds the wait for one."""

    dialect = DIALECT

    def __init__(
        self, url: str, *, pool_size: int = 10, timeout: float = 5.0, check_after: float = CHECK_AFTER,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.check_after = check_after
        self._monotonic = monotonic
        self._last_used: weakref.WeakKeyDictionary[psycopg.Connection[Any], float] = weakref.WeakKeyDictionary()
        with _mapped():
            self._pool = ConnectionPool(
                url,
                min_size=1,
                max_size=max(pool_size, 1),
                timeout=timeout,
                kwargs={"autocommit": True},
                name="bridge-store",
                check=self._check_if_idle,
                open=True,
            )

    def _check_if_idle(self, conn: psycopg.Connection[Any]) -> None:
        """The pool's check on lending: a round trip only for a connection that sat idle (it may be dead)."""
        last = self._last_used.get(conn)
        if last is None or self._monotonic() - last > self.check_after:
            ConnectionPool.check_connection(conn)

    @contextmanager
    def _connection(self) -> Iterator[psycopg.Connection[Any]]:
        with self._pool.connection() as conn:
            try:
                yield conn
            finally:
                self._last_used[conn] = self._monotonic()

    @contextmanager
    def read(self) -> Iterator[psycopg.Cursor[tuple[object, ...]]]:
        with _mapped(), self._connection() as conn, conn.cursor() as cur:
            yield cur

    # Autocommit: one statement is its own transaction.
    write = read

    def write_one(self, query: str, params: Sequence[Any]) -> tuple[int, list[Any]]:
        """One autocommit round trip. Concurrent commits share WAL flushes in the server (group commit there)."""
        with self.write() as cur:
            cur.execute(query, params)
            rows = cur.fetchall() if cur.description is not None else []
            return cur.rowcount, rows

    def write_group(self, work: Callable[[psycopg.Cursor[Any]], T]) -> T:
        """Several statements, all or nothing (the server's own group commit shares the WAL flush)."""
        with self.transaction() as cur:
            return work(cur)

    def write_now(self, work: Callable[[psycopg.Cursor[Any]], T]) -> tuple[bool, T | None]:
        """Never: every commit is a round trip to the server, which an event loop must not wait for."""
        return False, None

    @contextmanager
    def transaction(self) -> Iterator[psycopg.Cursor[tuple[object, ...]]]:
        with _mapped(), self._connection() as conn, conn.transaction(), conn.cursor() as cur:
            yield cur

    def close(self) -> None:
        self._pool.close()


@contextmanager
def _mapped() -> Iterator[None]:
    """Driver and pool errors become the bridge's. The detail names no host: the cause has it."""
    try:
        yield
    except psycopg.IntegrityError as exc:
        raise StoreConflict("a record with that key already exists") from exc
    except psycopg.Error as exc:  # PoolTimeout and PoolClosed are OperationalErrors too
        raise StoreUnavailable(f"the PostgreSQL store cannot answer ({type(exc).__name__})") from exc
