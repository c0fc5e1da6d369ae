"""SQLite connections for the embedded store: one per thread, WAL, FULL sync, one writer at a time.

* WAL lets readers run while a writer commits, across threads and worker processes.
* ``synchronous=FULL``: every commit is on disk before it returns. WAL with NORMAL may lose
  the last commits on power loss, and a lost single-use mark or audit row is a replay
  or a login nobody can account for; FULL costs one fsync per commit (about 0.3 ms here).
* Every write runs in ``BEGIN IMMEDIATE``, which takes the write lock up front and waits
  for it (``busy_timeout``). A deferred transaction that reads first and then writes can
  fail at once with "database is locked" when another process committed in between; the
  busy handler cannot help it. Waiting longer than the timeout raises StoreUnavailable.
* Group commit: the login path's small writes (``write_one``/``write_group``: a single-use mark
  with its audit row, rate windows) from concurrent threads share one transaction and so one
  fsync. Each caller queues its work; whoever takes the process's writer lock commits everything
  queued (a "combining" lock, no extra thread) and hands each caller its own result. A caller
  returns only after the COMMIT holding its rows; if that transaction fails, every caller in it
  gets StoreUnavailable and none of their rows exists. Each caller's work runs under its own
  savepoint, so a unique-key collision (or any error of its own) undoes only that caller's work.
* Connections are opened lazily per thread (sqlite3 objects must not be shared between
  threads mid-transaction). Open the store after forking, never before.
"""

from __future__ import annotations

import random
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from functools import partial
from pathlib import Path
from typing import Any, Generic, TypeVar

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
T = TypeVar("T")


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
        self._queue_lock = threading.Lock()
        self._queue: list[_Slot[Any]] = []
        self._extra: list[sqlite3.Connection] = []  # write_now's own connections (no busy wait), closed with the rest
        self.commits = 0  # group-commit transactions begun, and the statements they carried (tests, benchmarks)
        self.batched_writes = 0
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
            with _mapped(), self._immediate(deadline) as conn:
                yield conn.cursor()
        finally:
            self._writer.release()

    @contextmanager
    def _immediate(self, deadline: float) -> Iterator[sqlite3.Connection]:
        """A BEGIN IMMEDIATE transaction on this thread's connection: committed, or rolled back on any error."""
        conn = self._connection()
        self._begin_immediate(conn, deadline)
        with _committed(conn):
            yield conn

    # One statement still needs BEGIN IMMEDIATE (see the module docstring).
    write = transaction

    def write_one(self, query: str, params: Sequence[Any]) -> tuple[int, list[Any]]:
        """Queue one statement and return once a COMMIT holding it is on disk (group commit)."""
        # One statement is atomic on its own (SQLite undoes just that statement): no savepoint needed.
        return self._queued(_Slot(partial(_one_statement, query, tuple(params)), savepoint=False))

    def write_group(self, work: Callable[[sqlite3.Cursor], T]) -> T:
        """Run ``work`` (a few statements, all or nothing) in the next group commit; its result once on disk."""
        return self._queued(_Slot(work, savepoint=True))

    def write_now(self, work: Callable[[sqlite3.Cursor], T]) -> tuple[bool, T | None]:
        """``work`` committed on the calling thread (the event loop's, for logins) if no writer holds the lock.

        Its own connection never waits for a lock (busy_timeout 0): when another thread of this process or
        another process is writing, the caller hands the work to a thread instead. The commit is the same
        ``synchronous=FULL`` transaction as any other (about 0.2 ms of fsync here, once per batch of logins);
        the event loop waits for that, and no thread has to be woken or handed the GIL.
        """
        if not self._writer.acquire(blocking=False):
            return False, None
        try:
            conn = self._nowait_connection()
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                if exc.sqlite_errorcode in _BUSY:
                    return False, None
                raise StoreUnavailable(f"the SQLite store cannot answer: {exc}") from exc
            with _mapped(), _committed(conn):
                result = work(conn.cursor())
            self.commits += 1
            return True, result
        finally:
            self._writer.release()

    def _nowait_connection(self) -> sqlite3.Connection:
        if self._closed:
            raise StoreUnavailable("the SQLite store is closed")
        conn: sqlite3.Connection | None = getattr(self._local, "nowait", None)
        if conn is None:
            conn = self._connect()  # set up as every other connection (WAL, synchronous=FULL, foreign keys)
            conn.execute("PRAGMA busy_timeout = 0")
            with self._lock:
                self._extra.append(conn)
            self._local.nowait = conn
        return conn

    def _queued(self, slot: _Slot[T]) -> T:
        with self._queue_lock:
            self._queue.append(slot)
        if not self._writer.acquire(timeout=self._busy_timeout):
            with self._queue_lock:
                queued = slot in self._queue
                if queued:
                    self._queue.remove(slot)
            if queued:
                raise StoreUnavailable("the SQLite store cannot answer: this process's writes are queued too long")
            slot.done.wait()  # a leader has it: its transaction is bounded by its own busy timeout
            return slot.outcome()
        try:
            if not slot.done.is_set():
                self._commit_queued(time.monotonic() + self._busy_timeout)
        finally:
            self._writer.release()
        return slot.outcome()

    def _commit_queued(self, deadline: float) -> None:
        """With the writer lock: run every queued statement in one transaction, then wake their callers."""
        with self._queue_lock:
            batch, self._queue = self._queue, []
        if not batch:
            return
        self.commits += 1
        self.batched_writes += len(batch)
        try:
            with _mapped(), self._immediate(deadline) as conn:
                for slot in batch:
                    slot.run(conn)
        except BaseException as exc:
            # Nothing of this batch is on disk: every caller in it learns so (each its own exception).
            detail = exc.detail if isinstance(exc, StoreUnavailable) else f"the SQLite store cannot answer: {exc!r}"
            for slot in batch:
                slot.fail(detail, cause=exc)
            if not isinstance(exc, Exception):
                raise
        finally:
            for slot in batch:
                slot.done.set()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            connections = [*self._open.values(), *self._extra]
            self._open.clear()
            self._extra.clear()
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


def _one_statement(query: str, params: tuple[Any, ...], cur: sqlite3.Cursor) -> tuple[int, list[Any]]:
    cur.execute(query, params)
    rows = cur.fetchall()
    return cur.rowcount, rows


class _Slot(Generic[T]):
    """One caller's queued work and, once its transaction ended, its result or the batch's failure."""

    __slots__ = ("done", "error", "result", "savepoint", "work")

    def __init__(self, work: Callable[[sqlite3.Cursor], T], *, savepoint: bool) -> None:
        self.work = work
        self.savepoint = savepoint
        self.done = threading.Event()
        self.result: T | None = None
        self.error: BaseException | None = None

    def run(self, conn: sqlite3.Connection) -> None:
        """Inside the batch's transaction, under a savepoint: a failure undoes this caller's work only."""
        if self.savepoint:
            conn.execute("SAVEPOINT slot")
        try:
            self.result = self.work(conn.cursor())
        except sqlite3.IntegrityError as exc:
            conflict = StoreConflict("a record with that key already exists")
            conflict.__cause__ = exc
            self._undo(conn, conflict)
        except sqlite3.Error:
            raise  # the connection itself failed: the whole batch fails
        except Exception as exc:  # a caller's own error goes back to that caller alone
            self._undo(conn, exc)
        else:
            if self.savepoint:
                conn.execute("RELEASE slot")

    def _undo(self, conn: sqlite3.Connection, error: BaseException) -> None:
        if self.savepoint:
            conn.execute("ROLLBACK TO slot")
            conn.execute("RELEASE slot")
        self.error = error

    def fail(self, detail: str, *, cause: BaseException) -> None:
        self.error = StoreUnavailable(detail)
        self.error.__cause__ = cause
        self.result = None

    def outcome(self) -> T:
        if self.error is not None:
            raise self.error
        return self.result  # type: ignore[return-value]  # set by run() whenever error is None


@contextmanager
def _committed(conn: sqlite3.Connection) -> Iterator[None]:
    """End the transaction ``conn`` has begun: COMMIT when the block completes, rolled back on any error."""
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            with suppress(sqlite3.Error):
                conn.rollback()
        raise


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
