"""Billers and their partner API keys."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from bridge.store import ApiKeyRecord, BillerRecord, SqlStore, StoreConflict


def _biller(name: str = "demo", guid: str = "0f8fad5b-d9cb-469f-a165-70867728950e", **kw: object) -> BillerRecord:
    settings = {"link_base": "https://sso.invoicecloud.com/saml", "login_types": {"owner": 1}}
    return BillerRecord(name, guid, "https://sp.example/metadata", settings, **kw)  # type: ignore[arg-type]


def test_put_biller_then_get_by_name_and_guid(store: SqlStore, now: datetime) -> None:
    biller = _biller(created_at=now)
    store.put_biller(biller)
    assert store.get_biller("demo") == biller
    assert store.get_biller_by_guid(biller.biller_guid) == biller


def test_unknown_biller_is_none(store: SqlStore) -> None:
    assert store.get_biller("nobody") is None
    assert store.get_biller_by_guid("nothing") is None


def test_put_biller_replaces_and_keeps_created_at(store: SqlStore, now: datetime) -> None:
    store.put_biller(_biller(created_at=now))
    store.put_biller(replace(_biller(), sp_entity_id="https://other.example/sp", settings={"view_mode": 1}))
    stored = store.get_biller("demo")
    assert stored is not None
    assert stored.sp_entity_id == "https://other.example/sp"
    assert (stored.settings, stored.created_at) == ({"view_mode": 1}, now)


def test_list_billers_is_sorted_by_name(store: SqlStore) -> None:
    store.put_biller(_biller("zeta", "g2"))
    store.put_biller(_biller("alpha", "g1"))
    assert [b.name for b in store.list_billers()] == ["alpha", "zeta"]


def test_a_guid_names_one_biller(store: SqlStore) -> None:
    store.put_biller(_biller("one", "same-guid"))
    with pytest.raises(StoreConflict, match="same-guid"):
        store.put_biller(_biller("two", "same-guid"))


def test_delete_biller_reports_whether_it_existed(store: SqlStore) -> None:
    store.put_biller(_biller())
    assert store.delete_biller("demo") is True
    assert store.delete_biller("demo") is False
    assert store.get_biller("demo") is None


def test_api_key_round_trip(store: SqlStore, now: datetime) -> None:
    store.put_biller(_biller())
    key = ApiKeyRecord("bk_abc", "demo", "$argon2id$v=19$...", now)
    store.add_api_key(key)
    assert store.get_api_key("bk_abc") == key
    assert store.get_api_key("bk_nope") is None


def test_api_key_for_an_unknown_biller_is_a_conflict(store: SqlStore, now: datetime) -> None:
    with pytest.raises(StoreConflict):
        store.add_api_key(ApiKeyRecord("bk_abc", "ghost", "hash", now))


def test_revoke_api_keys_counts_only_live_keys(store: SqlStore, now: datetime) -> None:
    store.put_biller(_biller())
    store.put_biller(_biller("other", "g-other"))
    store.add_api_key(ApiKeyRecord("bk_1", "demo", "h1", now))
    store.add_api_key(ApiKeyRecord("bk_2", "demo", "h2", now, revoked_at=now - timedelta(days=1)))
    store.add_api_key(ApiKeyRecord("bk_3", "other", "h3", now))
    assert store.revoke_api_keys("demo", now) == 1
    assert store.revoke_api_keys("demo", now) == 0
    revoked = store.get_api_key("bk_1")
    assert revoked is not None and revoked.revoked_at == now
    old = store.get_api_key("bk_2")
    assert old is not None and old.revoked_at == now - timedelta(days=1)
    live = store.get_api_key("bk_3")
    assert live is not None and live.revoked_at is None


def test_deleting_a_biller_deletes_its_api_keys(store: SqlStore, now: datetime) -> None:
    store.put_biller(_biller())
    store.add_api_key(ApiKeyRecord("bk_1", "demo", "h1", now))
    store.delete_biller("demo")
    store.put_biller(_biller())  # a new biller of the same name inherits nothing
    assert store.get_api_key("bk_1") is None
