"""Fixed-window hit counters."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

import pytest

from bridge.errors import RateLimited, StoreUnavailable
from bridge.ratelimit import ROOM_SHARE, SYNC_EVERY, RateLimiter, window_of
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


# The per-process front (bridge.ratelimit.RateLimiter) over those counters.


class _Counting:
    """The store, counting the writes the limiter makes."""

    def __init__(self, store: SqlStore) -> None:
        self.store = store
        self.writes = 0

    def hit(self, bucket: str, window_start: datetime, expires_at: datetime, count: int = 1) -> int:
        self.writes += 1
        return self.store.hit(bucket, window_start, expires_at, count)


class _Ticks:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _limiter(store: SqlStore | _Counting, now: datetime, ticks: _Ticks | None = None) -> RateLimiter:
    return RateLimiter(store, lambda: now, monotonic=ticks or _Ticks())  # type: ignore[arg-type]


def _admitted(limiter: RateLimiter, bucket: str, limit: int, times: int) -> int:
    admitted = 0
    for _ in range(times):
        try:
            limiter.enforce(bucket, limit, what="tries")
            admitted += 1
        except RateLimited:
            pass
    return admitted


def test_limiter_admits_exactly_a_small_limit(store: SqlStore, now: datetime) -> None:
    assert _admitted(_limiter(store, now), "sso-ip:a", 5, 9) == 5


def test_limiter_refusal_says_when_the_window_ends(store: SqlStore, now: datetime) -> None:
    limiter = _limiter(store, now + timedelta(seconds=45))
    _admitted(limiter, "sso-ip:a", 1, 1)
    with pytest.raises(RateLimited) as refused:
        limiter.enforce("sso-ip:a", 1, what="tries")
    assert refused.value.retry_after == 15


def test_limiter_batches_writes_far_from_the_limit(store: SqlStore, now: datetime) -> None:
    counting = _Counting(store)
    limiter = _limiter(counting, now)
    assert _admitted(limiter, "sso-ip:a", 1_000_000, 500) == 500
    assert counting.writes == 1  # the first hit of the window; the rest wait for the next sync


def test_limiter_loses_no_hit_when_flushed(store: SqlStore, now: datetime) -> None:
    limiter = _limiter(store, now)
    _admitted(limiter, "sso-ip:a", 1_000_000, 500)
    limiter.flush()
    assert store.hit("sso-ip:a", window_of(now)[0], now + timedelta(minutes=2), 0) == 500


def test_limiter_writes_a_busy_bucket_every_second(store: SqlStore, now: datetime) -> None:
    counting, ticks = _Counting(store), _Ticks()
    limiter = _limiter(counting, now, ticks)
    _admitted(limiter, "sso-ip:a", 1_000_000, 10)
    ticks.now += SYNC_EVERY
    _admitted(limiter, "sso-ip:a", 1_000_000, 1)
    assert counting.writes == 2
    assert store.hit("sso-ip:a", window_of(now)[0], now + timedelta(minutes=2), 0) == 11


def test_two_nodes_together_never_pass_the_limit_by_more_than_their_batches(store: SqlStore, now: datetime) -> None:
    limit = 80
    first, second = _limiter(store, now), _limiter(store, now)
    admitted = sum(_admitted(node, "api-key:k", limit, 1) for _ in range(200) for node in (first, second))
    assert limit <= admitted <= limit + 2 * limit // ROOM_SHARE


def test_limiter_sees_hits_another_node_wrote(store: SqlStore, now: datetime) -> None:
    start, _end = window_of(now)
    store.hit("admin-login:a", start, now + timedelta(minutes=2), 10)
    assert _admitted(_limiter(store, now), "admin-login:a", 10, 1) == 0


def test_limiter_forgets_past_windows_on_flush(store: SqlStore, now: datetime) -> None:
    clock = [now]
    limiter = RateLimiter(store, lambda: clock[0])
    for ip in range(50):
        due = limiter.count_sso_client(f"198.51.100.{ip}", 100)
        if due is not None:
            limiter.settle(due)
    clock[0] = now + timedelta(minutes=2)
    limiter.flush()
    assert len(limiter) == 0


def test_limiter_fails_closed_when_the_store_cannot_count(store: SqlStore, now: datetime) -> None:
    limiter = _limiter(store, now)
    store.close()
    with pytest.raises(StoreUnavailable):
        limiter.enforce("sso-ip:a", 100, what="tries")


def test_a_limit_of_zero_is_off(store: SqlStore, now: datetime) -> None:
    counting = _Counting(store)
    assert _admitted(_limiter(counting, now), "sso-ip:a", 0, 20) == 20
    assert counting.writes == 0


def test_counting_on_the_event_loop_does_no_io_until_a_write_is_due(store: SqlStore, now: datetime) -> None:
    limiter = _limiter(store, now)
    first = limiter.count_sso_client("198.51.100.7", 1000)
    assert first is not None  # a new bucket is written at once, so other nodes see it
    assert store.hit("sso-ip:198.51.100.7", window_of(now)[0], now + timedelta(minutes=2), 0) == 0
    limiter.settle(first)
    assert limiter.count_sso_client("198.51.100.7", 1000) is None  # far from the limit: counted in memory
