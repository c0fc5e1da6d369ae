"""Fail closed: the cache vouches for nothing once its last successful poll is older than the bound."""

from __future__ import annotations

import logging

import pytest

from bridge.session_state import PAYER, SessionRef
from bridge.store import SqlStore
from bridge.store_cache import StoreCache

from .conftest import REFRESH, Monotonic
from .test_billers import T, put

BOUND = 3 * REFRESH
REF = SessionRef(kind=PAYER, sid="s1", started_at=T, biller="city")


def _warm(cache: StoreCache) -> None:
    assert cache.poll()
    version = cache.revocation_version()
    assert version is not None and cache.remember_live(REF, version)


def test_the_bound_is_three_refreshes_by_default(store: SqlStore) -> None:
    assert StoreCache(store, refresh=0.5).stale_after == 1.5


def test_a_cache_just_within_the_bound_answers(store: SqlStore, cache: StoreCache, ticks: Monotonic) -> None:
    put(store, "city")
    _warm(cache)
    ticks.advance(BOUND - 0.01)
    assert cache.billers() is not None and cache.known_live(REF) and cache.revocation_version() is not None


def test_a_cache_with_no_good_poll_within_the_bound_answers_nothing(
    store: SqlStore, cache: StoreCache, ticks: Monotonic
) -> None:
    put(store, "city")
    _warm(cache)
    ticks.advance(BOUND)
    assert cache.billers() is None
    assert not cache.known_live(REF)
    assert cache.revocation_version() is None
    assert not cache.fresh()


def test_a_stale_cache_remembers_nothing(store: SqlStore, cache: StoreCache, ticks: Monotonic) -> None:
    cache.poll()
    version = cache.revocation_version()
    assert version is not None
    ticks.advance(BOUND)
    assert not cache.remember_live(REF, version)


def test_a_good_poll_makes_it_answer_again(store: SqlStore, cache: StoreCache, ticks: Monotonic) -> None:
    put(store, "city")
    _warm(cache)
    ticks.advance(BOUND)
    assert cache.poll()
    assert cache.billers() is not None and cache.known_live(REF)  # no revocation since: still live


def test_a_failed_poll_returns_false_and_the_cache_goes_stale_at_the_bound(
    store: SqlStore, cache: StoreCache, ticks: Monotonic
) -> None:
    put(store, "city")
    _warm(cache)
    store.close()
    ticks.advance(REFRESH)
    assert cache.poll() is False  # never raises into the background loop
    assert cache.billers() is not None  # the last good poll is still within the bound
    ticks.advance(BOUND - REFRESH)
    assert cache.poll() is False
    assert cache.billers() is None and not cache.known_live(REF)


def test_failed_polls_are_logged_once(store: SqlStore, cache: StoreCache, caplog: pytest.LogCaptureFixture) -> None:
    cache.poll()
    store.close()
    with caplog.at_level(logging.INFO, logger="bridge.store_cache"):
        for _ in range(3):
            cache.poll()
    assert [r.levelname for r in caplog.records] == ["WARNING"]
    assert "store unavailable" in caplog.records[0].getMessage()


def test_a_biller_that_does_not_load_fails_the_poll(store: SqlStore, cache: StoreCache, ticks: Monotonic) -> None:
    from bridge.store import BillerRecord

    put(store, "city")
    cache.poll()
    store.put_biller(BillerRecord("town", "g-town", "https://sp.test", {"no_such_option": 1}, T))
    assert cache.poll() is False  # as a login reading every biller would fail, the cache does not vouch
    ticks.advance(BOUND)
    assert cache.billers() is None
