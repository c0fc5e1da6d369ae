"""SQLite connections for the embedded store: one per thread, WAL, FULL sync, one writer at a time.

* WAL lets readers run while a writer commits, across threads and worker processes.
* ``synchronous=FULL``: every commit is on disk before it returns. WAL with NORMAL may lose
  the last commits on power loss, and a lost single-use mark or audit row is a replay
  or a login nobody can account for; FULL costs one fsync per commit (about 0.3 ms here).
* Every write runs in ``BEGIN IMMEDIATE``, which takes the write lock up front and waits
  for it (``busy_timeout``). A deferred transaction that reads first and then writes can
  fail at once with "database is locked" when another process committed in between; the
  busy handler cannot help it. Waiting longer than the timeout raises StoreUnavailable.
* Connections are opened lazily per thread (sqlite3 objects must not be shared between
  threads mid-transaction). Open the store after forking, never before.
"""

from __future__ import annotations

import random
import sqlite3
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from bridge.errors import ConfigError, StoreConflict, StoreUnavailable
from bridge.store.sql import Dialect

DIALECT = Dialect(
    name="sqlite",
    label="SQLite",
    placeholder="?",
    table_exists="SELECT name FROM sqlite_master WHERE type = 'table' AND name = ?",
    migration_lock=None,  # BEGIN IMMEDIATE already admits one writer at a time
)
_BUSY = (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


class SqliteBackend:
    """Per-thread connections to one database file."""

    dialect = DIALECT

    def __init__(self, path: Path, *, busy_timeout: float = 5.0) -> None:
        self.path = path
        self._busy_timeout = busy_timeout
        self._busy_ms = int(busy_timeout * 1000)
        self._local = threading.local()
        # Every open connection, so close() can reach other threads' ones; entries go
        # with their thread.
        self._open: weakref.WeakKeyDictionary[threading.Thread, sqlite3.Connection] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()
        self._writer = threading.Lock()
        self._closed = False

    @contextmanager
    def read(self) -> Iterator[sqlite3.Cursor]:
        with _mapped():
            yield self._connection().cursor()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Cursor]:
        deadline = time.monotonic() + self._busy_timeout
        # This process's threads queue here, so at most one per process competes for the file.
        if not self._writer.acquire(timeout=self._busy_timeout):
            raise StoreUnavailable("the SQLite store cannot answer: this process's writes are queued too long")
        try:
            with _mapped():
                conn = self._connection()
                self._begin_immediate(conn, deadline)
                try:
                    yield conn.cursor()
                    conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:
                        with suppress(sqlite3.Error):
                            conn.rollback()
                    raise
        finally:
            self._writer.release()

    # One statement still needs BEGIN IMMEDIATE (see the module docstring).
    write = transaction

    def close(self) -> None:
        with self._lock:
            self._closed = True
            connections = list(self._open.values())
            self._open.clear()
        for conn in connections:
            with suppress(sqlite3.Error):
                conn.close()

    def _connection(self) -> sqlite3.Connection:
        if self._closed:
            raise StoreUnavailable("the SQLite store is closed")
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            with self._lock:
                if self._closed:
                    conn.close()
                    raise StoreUnavailable("the SQLite store is closed")
                self._open[threading.current_thread()] = conn
            self._local.conn = conn
        return conn

    def _connect(self) -> sqlite3.Connection:
        # isolation_level=None: the module starts no transactions of its own; we say BEGIN.
        conn = sqlite3.connect(self.path, timeout=self._busy_timeout, isolation_level=None, check_same_thread=False)
        try:
            conn.execute(f"PRAGMA busy_timeout = {self._busy_ms}")
            self._ensure_wal(conn)
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA foreign_keys = ON")
        except BaseException:
            conn.close()
            raise
        return conn

    def _begin_immediate(self, conn: sqlite3.Connection, deadline: float) -> None:
        """Take the write lock, retrying in steps of at most a millisecond until ``deadline``.

        SQLite's own busy handler sleeps up to 100 ms between tries: under load a waiter sleeps
        through many freed locks, throughput collapses and an unlucky process starves past the
        timeout. So the handler is off for this one statement (it stays on for everything else).
        """
        conn.execute("PRAGMA busy_timeout = 0")
        try:
            delay = 0.00005
            while True:
                try:
                    conn.execute("BEGIN IMMEDIATE")
                    return
                except sqlite3.OperationalError as exc:
                    if exc.sqlite_errorcode not in _BUSY or time.monotonic() >= deadline:
                        raise
                time.sleep(random.uniform(0, delay))  # noqa: S311 - jitter, not a secret
                delay = min(delay * 2, 0.001)
        finally:
            conn.execute(f"PRAGMA busy_timeout = {self._busy_ms}")

    def _ensure_wal(self, conn: sqlite3.Connection) -> None:
        """Switch the file to WAL once (the mode persists); the switch itself needs a moment alone.

        SQLite answers "database is locked" at once, without its busy handler, when another
        process is opening the same new file, so we retry until the busy timeout.
        """
        deadline = time.monotonic() + self._busy_timeout
        while True:
            try:
                mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                break
            except sqlite3.OperationalError as exc:
                if exc.sqlite_errorcode not in _BUSY or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)
        if mode != "wal":
            raise StoreUnavailable(f"SQLite cannot use WAL for {self.path.name} (journal mode {mode})")


@contextmanager
def _mapped() -> Iterator[None]:
    """Driver errors become the bridge's: a conflict, or the store cannot answer."""
    try:
        yield
    except sqlite3.IntegrityError as exc:
        raise StoreConflict("a record with that key already exists") from exc
    except sqlite3.Error as exc:
        raise StoreUnavailable(f"the SQLite store cannot answer: {exc}") from exc


def sqlite_path(url: str, *, base_dir: Path) -> Path:
    """``sqlite:///relative.db`` (against ``base_dir``) or ``sqlite:////absolute.db``."""
    rest = url.removeprefix("sqlite:///")
    if not rest or rest.startswith(":memory:") or "?" in rest:
        raise ConfigError(f"store.url: {url!r} must name a database file, e.g. sqlite:///bridge.db")
    path = Path(rest)
    return path if path.is_absolute() else base_dir / path
