"""bridge.session_state against each store: what a revocation matches, how long it is kept, and what a use costs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from store_backends import BACKENDS, make_store

from bridge.session_state import ADMIN, PAYER, SessionRef, is_live, revoke, revoke_all

T = datetime(2030, 1, 1, tzinfo=UTC)
HOUR = 3600


@pytest.fixture(params=BACKENDS)
def store(request, tmp_path):  # type: ignore[no-untyped-def]
    with make_store(request.param, tmp_path) as opened:
        yield opened


def _ref(sid: str = "s1", *, started: datetime = T, kind=PAYER, biller: str | None = "city") -> SessionRef:  # type: ignore[no-untyped-def]
    return SessionRef(kind=kind, sid=sid, started_at=started, biller=biller if kind == PAYER else None)


def test_a_session_nobody_revoked_is_live(store):
    assert is_live(store, _ref(), now=T + timedelta(minutes=5), absolute_lifetime=HOUR)


def test_revoking_one_session_leaves_the_others(store):
    revoke(store, _ref("s1"), absolute_lifetime=HOUR)
    assert not is_live(store, _ref("s1"), now=T, absolute_lifetime=HOUR)
    assert is_live(store, _ref("s2"), now=T, absolute_lifetime=HOUR)


def test_a_payer_sid_revocation_does_not_touch_an_admin_session_of_the_same_id(store):
    revoke(store, _ref("same"), absolute_lifetime=HOUR)
    assert is_live(store, _ref("same", kind=ADMIN), now=T, absolute_lifetime=HOUR)


def test_revoking_all_ends_earlier_sessions_only(store):
    revoke_all(store, PAYER, now=T + timedelta(seconds=10), absolute_lifetime=HOUR)
    assert not is_live(store, _ref(started=T + timedelta(seconds=9)), now=T + timedelta(seconds=11),
                       absolute_lifetime=HOUR)
    assert is_live(store, _ref(started=T + timedelta(seconds=10)), now=T + timedelta(seconds=11),
                   absolute_lifetime=HOUR)


def test_revoking_a_billers_sessions_ends_only_that_billers(store):
    revoke_all(store, PAYER, now=T + timedelta(seconds=10), absolute_lifetime=HOUR, biller="city")
    now = T + timedelta(seconds=11)
    assert not is_live(store, _ref(biller="city"), now=now, absolute_lifetime=HOUR)
    assert is_live(store, _ref(biller="town"), now=now, absolute_lifetime=HOUR)


def test_a_session_past_its_absolute_lifetime_is_not_live_without_any_revocation(store):
    assert not is_live(store, _ref(), now=T + timedelta(seconds=HOUR), absolute_lifetime=HOUR)


def test_a_session_from_the_far_future_is_not_live(store):
    assert not is_live(store, _ref(started=T + timedelta(hours=2)), now=T, absolute_lifetime=4 * HOUR)


def test_a_revocation_outlives_every_session_it_matches_before_it_is_purged(store):
    revoke(store, _ref("s1"), absolute_lifetime=HOUR)
    store.purge_expired(T + timedelta(seconds=HOUR))  # the session's own end: the revocation stays
    assert not is_live(store, _ref("s1"), now=T + timedelta(seconds=HOUR - 1), absolute_lifetime=HOUR)
    assert store.purge_expired(T + timedelta(days=2)) == 1


def test_a_use_is_one_primary_key_lookup_on_sqlite(tmp_path):
    with make_store("sqlite", tmp_path) as store, store.backend.read() as cur:
        cur.execute("EXPLAIN QUERY PLAN SELECT MAX(not_before_us) FROM session_revocations "
                    "WHERE scope IN (?, ?, ?)", ("a", "b", "c"))
        plan = " ".join(str(row[-1]) for row in cur.fetchall())
    assert "USING INDEX sqlite_autoindex_session_revocations_1" in plan or "PRIMARY KEY" in plan, plan
