"""Leases: one holder at a time, across threads and backends; an expired lease can be taken over."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

from bridge.store import SqlStore


def test_a_held_lease_refuses_a_second_holder_until_released(store: SqlStore, now: datetime) -> None:
    later = now + timedelta(seconds=30)
    assert store.acquire_lease("rest-sso:demo:101", "a", now=now, expires_at=later)
    assert not store.acquire_lease("rest-sso:demo:101", "b", now=now, expires_at=later)
    store.release_lease("rest-sso:demo:101", "a")
    assert store.acquire_lease("rest-sso:demo:101", "b", now=now, expires_at=later)


def test_leases_on_different_names_do_not_collide(store: SqlStore, now: datetime) -> None:
    later = now + timedelta(seconds=30)
    assert store.acquire_lease("rest-sso:demo:101", "a", now=now, expires_at=later)
    assert store.acquire_lease("rest-sso:demo:102", "b", now=now, expires_at=later)


def test_an_expired_lease_is_taken_over_and_its_old_holder_cannot_release_it(store: SqlStore, now: datetime) -> None:
    assert store.acquire_lease("n", "dead-node", now=now, expires_at=now + timedelta(seconds=10))
    later = now + timedelta(seconds=10)
    assert store.acquire_lease("n", "b", now=later, expires_at=later + timedelta(seconds=10))
    store.release_lease("n", "dead-node")
    assert not store.acquire_lease("n", "c", now=later, expires_at=later + timedelta(seconds=10))


def test_twenty_threads_contending_for_one_lease_have_one_winner(store: SqlStore, now: datetime) -> None:
    start = threading.Barrier(20)
    winners: list[str] = []

    def attempt(holder: str) -> None:
        start.wait()
        if store.acquire_lease("contested", holder, now=now, expires_at=now + timedelta(seconds=30)):
            winners.append(holder)

    threads = [threading.Thread(target=attempt, args=(f"h{i}",)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(winners) == 1


def test_purge_drops_expired_leases_only(store: SqlStore, now: datetime) -> None:
    store.acquire_lease("old", "a", now=now, expires_at=now + timedelta(seconds=1))
    store.acquire_lease("live", "a", now=now, expires_at=now + timedelta(seconds=60))
    store.purge_expired(now + timedelta(seconds=5))
    assert store.acquire_lease("old", "b", now=now, expires_at=now + timedelta(seconds=60))
    assert not store.acquire_lease("live", "b", now=now, expires_at=now + timedelta(seconds=60))
