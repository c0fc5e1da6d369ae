"""The audit trail and the metadata fetch log: order and filters."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from bridge.store import AuditEvent, MetadataFetch, SqlStore


def _event(at: datetime, event: str = "login.issued", biller: str | None = "demo", **kw: str) -> AuditEvent:
    return AuditEvent(at=at, event=event, outcome="ok", biller=biller, **kw)


def test_audit_event_keeps_every_field(store: SqlStore, now: datetime) -> None:
    event = AuditEvent(
        now, "login.issued", "ok", biller="demo", sp="https://sp.example", account="A-1", email="p@example.com",
        login_type="1", flow="idp-initiated", client_ip="203.0.113.9", actor="api:bk_1", detail="fine",
    )  # fmt: skip
    store.record_audit(event)
    assert store.audit_events() == [event]


def test_audit_events_are_oldest_first(store: SqlStore, now: datetime) -> None:
    late, early = _event(now + timedelta(seconds=1), "b"), _event(now, "a")
    store.record_audit(late)
    store.record_audit(early)
    assert store.audit_events() == [early, late]


def test_audit_events_at_the_same_time_keep_insertion_order(store: SqlStore, now: datetime) -> None:
    events = [_event(now, f"e{i}") for i in range(5)]
    for event in events:
        store.record_audit(event)
    assert store.audit_events() == events


def test_audit_since_includes_the_boundary(store: SqlStore, now: datetime) -> None:
    for offset in (-2, 0, 2):
        store.record_audit(_event(now + timedelta(seconds=offset), f"t{offset}"))
    assert [e.event for e in store.audit_events(since=now)] == ["t0", "t2"]


def test_audit_filters_by_biller(store: SqlStore, now: datetime) -> None:
    store.record_audit(_event(now, "a", biller="demo"))
    store.record_audit(_event(now, "b", biller="other"))
    store.record_audit(_event(now, "c", biller=None))
    assert [e.event for e in store.audit_events(biller="other")] == ["b"]


def test_audit_filters_by_event_name_or_dotted_family(store: SqlStore, now: datetime) -> None:
    for name in ("key.transition", "key_x.other", "keys.other", "login.issued"):
        store.record_audit(_event(now, name))
    assert [e.event for e in store.audit_events(event="key")] == ["key.transition"]
    assert [e.event for e in store.iter_audit(event="key.transition")] == ["key.transition"]


def test_audit_limit_keeps_the_newest_oldest_first(store: SqlStore, now: datetime) -> None:
    for i in range(5):
        store.record_audit(_event(now + timedelta(seconds=i), f"e{i}"))
    assert [e.event for e in store.audit_events(limit=2)] == ["e3", "e4"]
    assert store.audit_events(limit=0) == []


def test_audit_filters_combine(store: SqlStore, now: datetime) -> None:
    for i in range(6):
        store.record_audit(_event(now + timedelta(seconds=i), f"e{i}", biller="demo" if i % 2 else "other"))
    found = store.audit_events(since=now + timedelta(seconds=2), biller="demo", limit=1)
    assert [e.event for e in found] == ["e5"]


@pytest.mark.parametrize("batch", [1, 2, 1000])
def test_iter_audit_reads_everything_in_batches(store: SqlStore, now: datetime, batch: int) -> None:
    events = [_event(now + timedelta(seconds=i // 2), f"e{i}", biller="demo" if i % 3 else "x") for i in range(7)]
    for event in events:
        store.record_audit(event)
    assert list(store.iter_audit(batch=batch)) == events
    expected = [e for e in events if e.biller == "demo" and e.at >= now + timedelta(seconds=1)]
    assert list(store.iter_audit(since=now + timedelta(seconds=1), biller="demo", batch=batch)) == expected


def test_purge_drops_audit_rows_only_before_the_retention_cutoff(store: SqlStore, now: datetime) -> None:
    store.record_audit(_event(now - timedelta(days=500), "ancient"))
    store.record_audit(_event(now, "recent"))
    assert store.purge_expired(now) == 0  # no audit_before: the trail is kept
    assert store.purge_expired(now, audit_before=now - timedelta(days=400)) == 1
    assert [e.event for e in store.audit_events()] == ["recent"]


def test_metadata_fetches_are_logged_oldest_first(store: SqlStore, now: datetime) -> None:
    later = MetadataFetch(now + timedelta(hours=1), "198.51.100.7", "IC-metadata/1.0", ("k2", "k1"))
    first = MetadataFetch(now, None, None, ())
    store.record_metadata_fetch(later)
    store.record_metadata_fetch(first)
    assert store.metadata_fetches() == [first, later]
    assert store.metadata_fetches(since=now + timedelta(minutes=1)) == [later]
