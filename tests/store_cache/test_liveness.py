"""Session liveness from memory: remembered live until any revocation, here or on another node."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

from bridge import session_state
from bridge.config import settings_from_dict
from bridge.session_state import PAYER, SessionRef, is_live, live_from_memory, revoke, revoke_all
from bridge.store import SqlStore
from bridge.store_cache import StoreCache

from .conftest import Monotonic
from .test_billers import T

HOUR = 3600
NOW = T + timedelta(minutes=5)


def _ref(sid: str = "s1", biller: str = "city") -> SessionRef:
    return SessionRef(kind=PAYER, sid=sid, started_at=T, biller=biller)


def _live(store: SqlStore, cache: StoreCache, ref: SessionRef) -> bool:
    return is_live(store, ref, now=NOW, absolute_lifetime=HOUR, cache=cache)


class _CountingStore:
    """Counts the revocation reads that reach the store."""

    def __init__(self, store: SqlStore) -> None:
        self.store = store
        self.reads = 0

    def sessions_revoked_before(self, scopes: Sequence[str]) -> int | None:
        self.reads += 1
        return self.store.sessions_revoked_before(scopes)


def test_a_live_session_is_read_once_then_answered_from_memory(store: SqlStore, cache: StoreCache) -> None:
    cache.poll()
    counting = _CountingStore(store)
    assert is_live(counting, _ref(), now=NOW, absolute_lifetime=HOUR, cache=cache)  # type: ignore[arg-type]
    assert is_live(counting, _ref(), now=NOW, absolute_lifetime=HOUR, cache=cache)  # type: ignore[arg-type]
    assert counting.reads == 1
    assert live_from_memory(_ref(), cache, now=NOW, absolute_lifetime=HOUR) is True


def test_memory_says_nothing_of_a_session_it_never_read(store: SqlStore, cache: StoreCache) -> None:
    cache.poll()
    assert live_from_memory(_ref(), cache, now=NOW, absolute_lifetime=HOUR) is None


def test_memory_refuses_a_session_past_its_lifetime_without_the_store(store: SqlStore, cache: StoreCache) -> None:
    cache.poll()
    assert _live(store, cache, _ref())
    assert live_from_memory(_ref(), cache, now=T + timedelta(seconds=HOUR), absolute_lifetime=HOUR) is False


def test_a_revoked_session_is_not_remembered(store: SqlStore, cache: StoreCache) -> None:
    cache.poll()
    revoke(store, _ref(), absolute_lifetime=HOUR)
    assert not _live(store, cache, _ref())
    assert cache.remembered() == 0


def test_a_revocation_by_another_node_drops_the_memory_at_the_next_poll(
    store: SqlStore, other: SqlStore, cache: StoreCache
) -> None:
    cache.poll()
    assert _live(store, cache, _ref())
    revoke_all(other, PAYER, now=NOW, absolute_lifetime=HOUR, biller="city")
    assert cache.known_live(_ref())  # until the next poll (the stated bound)
    cache.poll()
    assert not cache.known_live(_ref())
    assert not _live(store, cache, _ref())


def test_a_revocation_in_this_process_takes_effect_at_once(store: SqlStore, cache: StoreCache) -> None:
    cache.poll()
    assert _live(store, cache, _ref())
    revoke(store, _ref(), absolute_lifetime=HOUR, cache=cache)
    assert not cache.known_live(_ref())
    assert not _live(store, cache, _ref())


def test_signing_out_everywhere_in_this_process_takes_effect_at_once(
    store: SqlStore, cache: StoreCache, tmp_path: Path
) -> None:
    settings = settings_from_dict({"tickets": {"secrets": ["x"]}, "session": {"secrets": ["y"]}}, base_dir=tmp_path)
    cache.poll()
    assert _live(store, cache, _ref())
    session_state.sign_out_everywhere(store, settings, admins=False, payers=True, now=NOW, actor="test",
                                      cache=cache)
    assert not cache.known_live(_ref())


class _RevokedDuringRead:
    """The store answers "live", then another node's revocation commits and the background poll sees it,
    all before the login gets to remember its answer."""

    def __init__(self, store: SqlStore, other: SqlStore) -> None:
        self.store, self.other = store, other
        self.cache: StoreCache | None = None

    def sessions_revoked_before(self, scopes: Sequence[str]) -> int | None:
        answer = self.store.sessions_revoked_before(scopes)
        revoke_all(self.other, PAYER, now=NOW, absolute_lifetime=HOUR)
        assert self.cache is not None and self.cache.poll()
        return answer


def test_a_revocation_racing_the_read_is_not_remembered_as_live(
    store: SqlStore, other: SqlStore, cache: StoreCache
) -> None:
    cache.poll()
    racing = _RevokedDuringRead(store, other)
    racing.cache = cache
    assert is_live(racing, _ref(), now=NOW, absolute_lifetime=HOUR, cache=cache)  # type: ignore[arg-type]  # read before it
    assert not cache.known_live(_ref())
    assert not _live(store, cache, _ref())


def test_a_version_from_before_a_local_revocation_is_refused(store: SqlStore, cache: StoreCache) -> None:
    cache.poll()
    version = cache.revocation_version()
    assert version is not None
    cache.invalidate_sessions()
    assert not cache.remember_live(_ref(), version)


def test_memory_is_bounded_least_recently_used_first(store: SqlStore, ticks: Monotonic) -> None:
    cache = StoreCache(store, refresh=1.0, memo_limit=3, monotonic=ticks)
    cache.poll()
    refs = [_ref(f"s{i}") for i in range(5)]
    for ref in refs[:3]:
        assert _live(store, cache, ref)
    assert cache.known_live(refs[0])  # used: now the most recent
    for ref in refs[3:]:
        assert _live(store, cache, ref)
    assert cache.remembered() == 3
    assert [cache.known_live(r) for r in refs] == [True, False, False, True, True]


def test_without_a_cache_every_use_reads_the_store(store: SqlStore) -> None:
    counting = _CountingStore(store)
    for _ in range(2):
        assert is_live(counting, _ref(), now=NOW, absolute_lifetime=HOUR)  # type: ignore[arg-type]
    assert counting.reads == 2
