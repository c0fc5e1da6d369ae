"""Fixed-window hit counters."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

from bridge.store import SqlStore


def test_hit_counts_within_a_window(store: SqlStore, now: datetime) -> None:
    expires = now + timedelta(minutes=2)
    assert [store.hit("api:demo", now, expires) for _ in range(3)] == [1, 2, 3]


def test_hit_counts_each_window_and_bucket_apart(store: SqlStore, now: datetime) -> None:
    expires = now + timedelta(minutes=2)
    store.hit("api:demo", now, expires)
    assert store.hit("api:demo", now + timedelta(minutes=1), expires) == 1
    assert store.hit("sso:203.0.113.9", now, expires) == 1


def test_hit_from_20_threads_counts_every_hit(store: SqlStore, now: datetime) -> None:
    counts: list[int] = []

    def attempt() -> None:
        counts.append(store.hit("api:demo", now, now + timedelta(minutes=2)))

    threads = [threading.Thread(target=attempt) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(counts) == list(range(1, 21))


def test_purge_drops_expired_windows(store: SqlStore, now: datetime) -> None:
    store.hit("api:demo", now - timedelta(minutes=2), now - timedelta(minutes=1))
    assert store.purge_expired(now) == 1
    assert store.hit("api:demo", now - timedelta(minutes=2), now - timedelta(minutes=1)) == 1
