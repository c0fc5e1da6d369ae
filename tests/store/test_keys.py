"""Signing-key records: the lifecycle's compare-and-set."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from bridge.store import KeyRecord, SqlStore, StoreConflict


def _key(kid: str, now: datetime, state: str = "pending") -> KeyRecord:
    return KeyRecord(kid, state, "-----BEGIN CERTIFICATE-----\n...", f"certs/{kid}.key", now, published_at=now)


def test_added_keys_are_listed_oldest_first(store: SqlStore, now: datetime) -> None:
    second = _key("k2", now + timedelta(hours=1))
    first = _key("k1", now)
    store.add_key(second)
    store.add_key(first)
    assert store.list_keys() == [first, second]


def test_adding_a_kid_twice_is_a_conflict(store: SqlStore, now: datetime) -> None:
    store.add_key(_key("k1", now))
    with pytest.raises(StoreConflict, match="k1"):
        store.add_key(_key("k1", now))


def test_update_key_with_the_expected_state_moves_it(store: SqlStore, now: datetime) -> None:
    store.add_key(_key("k1", now))
    active = replace(_key("k1", now), state="active", activated_at=now + timedelta(days=1))
    assert store.update_key(active, expected_state="pending") is True
    assert store.list_keys() == [active]


def test_update_key_with_a_stale_state_changes_nothing(store: SqlStore, now: datetime) -> None:
    original = _key("k1", now)
    store.add_key(original)
    retired = replace(original, state="retired", retired_at=now)
    assert store.update_key(retired, expected_state="active") is False
    assert store.list_keys() == [original]


def test_update_of_an_unknown_key_is_false(store: SqlStore, now: datetime) -> None:
    assert store.update_key(_key("ghost", now), expected_state="pending") is False


def test_delete_key_removes_it(store: SqlStore, now: datetime) -> None:
    store.add_key(_key("k1", now))
    store.delete_key("k1")
    store.delete_key("k1")  # absent: nothing to do
    assert store.list_keys() == []
