"""use_once: the first call wins, every later one loses, across threads and processes."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from store_backends import store_url

from bridge.store import AuditEvent, SqlStore

from . import workers


def test_use_once_is_true_then_false(once_store: SqlStore, now: datetime) -> None:
    expires = now + timedelta(minutes=5)
    assert once_store.use_once("ticket", "abc", expires) is True
    assert once_store.use_once("ticket", "abc", expires) is False
    assert once_store.use_once("ticket", "abc", expires) is False


def test_use_once_namespaces_are_separate(once_store: SqlStore, now: datetime) -> None:
    expires = now + timedelta(minutes=5)
    assert once_store.use_once("ticket", "abc", expires)
    assert once_store.use_once("assertion", "abc", expires)


def test_use_once_from_20_threads_has_one_winner(once_store: SqlStore, now: datetime) -> None:
    start = threading.Barrier(20)
    results: list[bool] = []

    def attempt() -> None:
        start.wait()
        results.append(once_store.use_once("ticket", "contested", now + timedelta(minutes=5)))

    threads = [threading.Thread(target=attempt) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False] * 19 + [True]


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_use_once_from_3_processes_has_one_winner_per_key(kind: str, tmp_path: Path) -> None:
    keys, processes = 200, 3
    with store_url(kind, tmp_path) as url:
        _migrated(url, tmp_path)
        # in particular no "database is locked" from any of them
        reports = workers.in_processes(workers.hammer_use_once, url, str(tmp_path), keys, count=processes)
    won = sorted(key for keys_won in reports for key in keys_won)
    assert won == list(range(keys))


def test_purge_frees_expired_marks_for_reuse(store: SqlStore, now: datetime) -> None:
    # (Redis expires its marks by itself; purge_expired is for the SQL home of the marks.)
    assert store.use_once("ticket", "old", now - timedelta(seconds=1))
    assert store.purge_expired(now) == 1
    assert store.use_once("ticket", "old", now + timedelta(minutes=5))


def test_purge_keeps_marks_that_are_still_valid(store: SqlStore, now: datetime) -> None:
    assert store.use_once("ticket", "live", now + timedelta(seconds=1))
    assert store.use_once("ticket", "edge", now)  # expires exactly now: not yet "before now"
    assert store.purge_expired(now) == 0
    assert store.use_once("ticket", "live", now + timedelta(seconds=1)) is False
    assert store.use_once("ticket", "edge", now) is False


def test_expired_mark_still_refuses_until_purged(store: SqlStore, now: datetime) -> None:
    assert store.use_once("ticket", "late", now - timedelta(minutes=1))
    assert store.use_once("ticket", "late", now - timedelta(minutes=1)) is False


def _migrated(url: str, base_dir: Path) -> None:
    from bridge.store import open_store_url

    store = open_store_url(url, base_dir=base_dir)
    try:
        store.migrate()
    finally:
        store.close()


def test_use_once_with_audit_records_the_event_only_for_the_first_use(once_store: SqlStore, now: datetime) -> None:
    expires = now + timedelta(minutes=5)
    event = AuditEvent(now, "login.issued", "ok", account="101Invoice")
    assert once_store.use_once("authn-request", "sp|_r1", expires, audit=event) is True
    assert once_store.use_once("authn-request", "sp|_r1", expires, audit=event) is False
    assert [e.event for e in once_store.audit_events()] == ["login.issued"]
