"""SQLite group commit: concurrent login writes share a transaction, yet each caller's row is committed when it returns.

The faults are real: another connection holds SQLite's write lock (as another worker
process would), so transactions wait for it or time out.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bridge.errors import StoreConflict, StoreUnavailable
from bridge.store import AuditEvent, SqlStore, open_store_url
from bridge.store.sqlite import SqliteBackend

EXPIRES = datetime(2030, 1, 1, tzinfo=UTC)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "bridge.db"


def opened(db: Path, timeout: float) -> SqlStore:
    store = open_store_url(f"sqlite:///{db}", base_dir=db.parent, timeout=timeout)
    store.migrate()
    return store


@pytest.fixture
def store(db: Path) -> Iterator[SqlStore]:
    store = opened(db, 5.0)
    yield store
    store.close()


def backend(store: SqlStore) -> SqliteBackend:
    assert isinstance(store.backend, SqliteBackend)
    return store.backend


def in_threads(calls: list[Callable[[], Any]], *, stagger: float = 0.0) -> list[Any]:
    """Run each call in its own thread (the first ``stagger`` seconds ahead); results or exceptions, in order."""
    results: list[Any] = [None] * len(calls)

    def run(i: int) -> None:
        try:
            results[i] = calls[i]()
        except Exception as exc:  # the test looks at what each caller got
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    threads[0].start()
    time.sleep(stagger)
    for thread in threads[1:]:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


@pytest.fixture
def lock_holder(db: Path) -> Iterator[sqlite3.Connection]:
    """Another connection to the same file: ``BEGIN IMMEDIATE`` on it takes the write lock as a second worker would."""
    conn = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    yield conn
    if conn.in_transaction:
        conn.execute("ROLLBACK")
    conn.close()


def marks(db: Path, prefix: str) -> set[str]:
    with sqlite3.connect(db) as conn:
        return {row[0] for row in conn.execute("SELECT key FROM used_once WHERE key LIKE ?", (f"{prefix}%",))}


def test_each_caller_row_is_committed_when_its_call_returns(store: SqlStore, db: Path):
    seen_by_another_connection: list[bool] = []

    def login(n: int) -> None:
        reader = sqlite3.connect(db)
        try:
            for i in range(20):
                key = f"t{n}-{i}"
                assert store.use_once("ticket", key, EXPIRES)
                store.record_audit(AuditEvent(EXPIRES, "login.issued", "ok", account=key))
                row = reader.execute(
                    "SELECT (SELECT COUNT(*) FROM used_once WHERE key = ?), "
                    "(SELECT COUNT(*) FROM audit_events WHERE account = ?)", (key, key)).fetchone()
                seen_by_another_connection.append(row == (1, 1))
        finally:
            reader.close()

    in_threads([lambda n=n: login(n) for n in range(12)])
    assert seen_by_another_connection == [True] * 240
    stats = backend(store)
    assert stats.batched_writes == 480
    assert stats.commits < stats.batched_writes, "no two writes ever shared a commit"


def test_one_key_used_by_callers_in_the_same_batch_has_one_winner(store: SqlStore, lock_holder: sqlite3.Connection):
    lock_holder.execute("BEGIN IMMEDIATE")  # everyone queues behind it, then commits together
    releaser = threading.Timer(0.5, lambda: lock_holder.execute("ROLLBACK"))
    releaser.start()
    results = in_threads([lambda: store.use_once("ticket", "same", EXPIRES) for _ in range(10)], stagger=0.1)
    releaser.join()
    assert sorted(results) == [False] * 9 + [True]


def test_a_failed_batch_fails_every_caller_and_writes_none_of_their_rows(db: Path, lock_holder: sqlite3.Connection):
    store = opened(db, 1.0)
    try:
        lock_holder.execute("BEGIN IMMEDIATE")  # held past the timeout: every transaction fails
        results = in_threads([lambda i=i: store.use_once("ticket", f"f{i}", EXPIRES) for i in range(8)],
                             stagger=0.2)
        lock_holder.execute("ROLLBACK")
        assert all(isinstance(result, StoreUnavailable) for result in results), results
        assert len({id(result) for result in results}) == 8  # each caller its own exception
        stats = backend(store)
        assert stats.batched_writes > stats.commits, "the callers never shared a transaction"
        assert marks(db, "f") == set()
        assert store.use_once("ticket", "f0", EXPIRES)  # nothing was recorded: the first use is still free
    finally:
        store.close()


def test_a_conflict_fails_only_its_own_statement(store: SqlStore, db: Path, lock_holder: sqlite3.Connection):
    insert = "INSERT INTO used_once (namespace, key, expires_us) VALUES (?, ?, ?)"
    store.backend.write_one(insert, ("ticket", "c-taken", 1))
    lock_holder.execute("BEGIN IMMEDIATE")
    releaser = threading.Timer(0.5, lambda: lock_holder.execute("ROLLBACK"))
    releaser.start()
    keys = ["c0", "c1", "c-taken", "c2", "c3"]
    results = in_threads([lambda k=k: store.backend.write_one(insert, ("ticket", k, 1)) for k in keys], stagger=0.1)
    releaser.join()
    assert isinstance(results[2], StoreConflict)
    assert [r for i, r in enumerate(results) if i != 2] == [(1, [])] * 4
    assert marks(db, "c") == {"c0", "c1", "c2", "c3", "c-taken"}
    stats = backend(store)
    assert stats.batched_writes > stats.commits


def test_a_closed_store_fails_queued_writes(store: SqlStore):
    store.close()
    with pytest.raises(StoreUnavailable, match="closed"):
        store.use_once("ticket", "k", EXPIRES)
    with pytest.raises(StoreUnavailable, match="closed"):
        store.record_audit(AuditEvent(EXPIRES, "login.issued", "ok"))


def test_rate_window_counts_come_back_through_the_batch(store: SqlStore):
    window = EXPIRES - timedelta(minutes=1)
    counts = in_threads([lambda: store.hit("ip:127.0.0.1", window, EXPIRES) for _ in range(10)])
    assert sorted(counts) == list(range(1, 11))


def test_a_callers_failing_work_undoes_only_its_own_statements(store: SqlStore, db: Path,
                                                               lock_holder: sqlite3.Connection):
    insert = "INSERT INTO used_once (namespace, key, expires_us) VALUES (?, ?, ?)"

    def work(key: str, fail: bool) -> Callable[[Any], str]:
        def run(cur: Any) -> str:
            cur.execute(insert, ("ticket", f"{key}-a", 1))
            cur.execute(insert, ("ticket", f"{key}-b", 1))
            if fail:
                raise ValueError("the caller changed its mind")
            return key
        return run

    lock_holder.execute("BEGIN IMMEDIATE")
    releaser = threading.Timer(0.5, lambda: lock_holder.execute("ROLLBACK"))
    releaser.start()
    calls = [lambda k=k: backend(store).write_group(work(k, k == "g2")) for k in ("g0", "g1", "g2", "g3")]
    results = in_threads(calls, stagger=0.1)
    releaser.join()
    assert results[:2] == ["g0", "g1"] and results[3] == "g3"
    assert isinstance(results[2], ValueError)
    assert marks(db, "g") == {"g0-a", "g0-b", "g1-a", "g1-b", "g3-a", "g3-b"}
    assert backend(store).commits == 2  # the first caller alone, then the three queued behind it together


def test_a_mark_with_its_audit_row_is_one_write(store: SqlStore, db: Path):
    event = AuditEvent(EXPIRES, "login.issued", "ok", account="m1")
    assert store.use_once("authn-request", "m1", EXPIRES, audit=event)
    assert not store.use_once("authn-request", "m1", EXPIRES, audit=event)
    assert backend(store).commits == 2 and backend(store).batched_writes == 2
    assert [e.account for e in store.audit_events()] == ["m1"]
