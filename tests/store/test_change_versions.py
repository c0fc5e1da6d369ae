"""Change versions (migration 0080): the database itself bumps a topic's version with every change to its table."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from store_backends import make_store

from bridge.errors import StoreConflict
from bridge.store import BillerRecord, SqlStore, open_store_url

T = datetime(2030, 1, 1, tzinfo=UTC)


def _biller(name: str = "city", guid: str = "g-city", sp: str = "https://sp.test") -> BillerRecord:
    return BillerRecord(name, guid, sp, {"flow": "sp-initiated"}, T)


def _version(store: SqlStore, topic: str) -> int:
    return store.change_versions()[topic]


def test_a_fresh_store_has_both_topics(store: SqlStore) -> None:
    assert set(store.change_versions()) == {"billers", "session_revocations"}


def test_adding_a_biller_bumps_billers(store: SqlStore) -> None:
    before = _version(store, "billers")
    store.put_biller(_biller())
    assert _version(store, "billers") > before


def test_replacing_a_biller_bumps_billers(store: SqlStore) -> None:
    store.put_biller(_biller())
    before = _version(store, "billers")
    store.put_biller(_biller(sp="https://other-sp.test"))
    assert _version(store, "billers") > before


def test_deleting_a_biller_bumps_billers(store: SqlStore) -> None:
    store.put_biller(_biller())
    before = _version(store, "billers")
    assert store.delete_biller("city")
    assert _version(store, "billers") > before


def test_a_biller_change_leaves_session_revocations_alone(store: SqlStore) -> None:
    before = _version(store, "session_revocations")
    store.put_biller(_biller())
    assert _version(store, "session_revocations") == before


def test_a_refused_biller_write_bumps_nothing(store: SqlStore) -> None:
    """The bump is in the change's own transaction: a write that fails takes its bump with it."""
    store.put_biller(_biller("city", guid="g-1"))
    before = store.change_versions()
    with pytest.raises(StoreConflict):
        store.put_biller(_biller("town", guid="g-1"))  # one GUID, one biller
    assert store.change_versions() == before


def test_a_revocation_bumps_session_revocations(store: SqlStore) -> None:
    before = _version(store, "session_revocations")
    store.revoke_sessions("payer:all", T, T)
    assert _version(store, "session_revocations") > before


def test_a_repeated_revocation_bumps_again(store: SqlStore) -> None:
    store.revoke_sessions("payer:all", T, T)
    before = _version(store, "session_revocations")
    store.revoke_sessions("payer:all", T, T)  # ON CONFLICT DO UPDATE: an update
    assert _version(store, "session_revocations") > before


def test_purging_a_revocation_bumps_session_revocations(store: SqlStore) -> None:
    store.revoke_sessions("payer:all", T, T)
    before = _version(store, "session_revocations")
    store.purge_expired(datetime(2031, 1, 1, tzinfo=UTC))
    assert _version(store, "session_revocations") > before


def test_a_revocation_leaves_billers_alone(store: SqlStore) -> None:
    before = _version(store, "billers")
    store.revoke_sessions("payer:all", T, T)
    assert _version(store, "billers") == before


def test_two_stores_on_one_sqlite_file_see_each_others_bumps(tmp_path: Path) -> None:
    with make_store("sqlite", tmp_path) as first:
        second = open_store_url(f"sqlite:///{tmp_path / 'bridge.db'}", base_dir=tmp_path)
        try:
            before = second.change_versions()
            first.put_biller(_biller())
            first.revoke_sessions("payer:all", T, T)
            after = second.change_versions()
            assert after["billers"] > before["billers"]
            assert after["session_revocations"] > before["session_revocations"]
            second.delete_biller("city")
            assert first.change_versions()["billers"] > after["billers"]
        finally:
            second.close()
