"""Pending AuthnRequests: taken at most once, never after they expire."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

from bridge.store import SqlStore


def test_take_pending_returns_the_data_once(store: SqlStore, now: datetime) -> None:
    data = {"request_id": "_abc", "acs": "https://sp.example/acs", "nested": {"n": [1, 2]}}
    store.put_pending("p1", data, now + timedelta(minutes=10))
    assert store.take_pending("p1", now) == data
    assert store.take_pending("p1", now) is None


def test_take_pending_of_an_unknown_id_is_none(store: SqlStore, now: datetime) -> None:
    assert store.take_pending("nope", now) is None


def test_take_pending_after_expiry_is_none_and_removes_it(store: SqlStore, now: datetime) -> None:
    store.put_pending("p1", {"a": 1}, now + timedelta(minutes=10))
    assert store.take_pending("p1", now + timedelta(minutes=10)) is None
    assert store.take_pending("p1", now) is None


def test_take_pending_from_20_threads_has_one_winner(store: SqlStore, now: datetime) -> None:
    store.put_pending("p1", {"a": 1}, now + timedelta(minutes=10))
    start = threading.Barrier(20)
    results: list[object] = []

    def attempt() -> None:
        start.wait()
        results.append(store.take_pending("p1", now))

    threads = [threading.Thread(target=attempt) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results.count({"a": 1}) == 1
    assert results.count(None) == 19


def test_purge_drops_expired_pending_only(store: SqlStore, now: datetime) -> None:
    store.put_pending("old", {}, now - timedelta(seconds=1))
    store.put_pending("new", {}, now + timedelta(seconds=1))
    assert store.purge_expired(now) == 1
    assert store.take_pending("new", now) == {}
