"""The biller snapshot: every biller from memory, reloaded when the store's ``billers`` version moves."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from bridge.billers import Biller, validate_biller
from bridge.endpoints import PER_BILLER, shared_candidates
from bridge.store import BillerRecord, SqlStore
from bridge.store_cache import StoreCache

T = datetime(2030, 1, 1, tzinfo=UTC)
SP = "https://sp.test/metadata"


def put(store: SqlStore, name: str, sp: str = SP, **options: Any) -> Biller:
    guid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"biller:{name}"))
    biller = validate_biller(Biller(name=name, biller_guid=guid, sp_entity_id=sp, **options))
    store.put_biller(biller.record(created_at=T))
    return biller


def test_the_first_poll_loads_every_biller(store: SqlStore, cache: StoreCache) -> None:
    city, town = put(store, "city"), put(store, "town")
    assert cache.billers() is None  # nothing vouched for before a poll
    assert cache.poll()
    snapshot = cache.billers()
    assert snapshot is not None
    assert snapshot.all() == (city, town)
    assert snapshot.get("town") == town and snapshot.get("village") is None


def test_lookups_by_sp_and_guid(store: SqlStore, cache: StoreCache) -> None:
    city, town = put(store, "city"), put(store, "town", sp="https://other.test")
    cache.poll()
    snapshot = cache.billers()
    assert snapshot is not None
    assert snapshot.on_sp(SP) == (city,) and snapshot.on_sp("https://nobody.test") == ()
    assert snapshot.by_guid(town.biller_guid) == town


def test_shared_candidates_takes_the_snapshot(store: SqlStore, cache: StoreCache) -> None:
    city = put(store, "city")
    put(store, "town", idp_endpoints=PER_BILLER)
    cache.poll()
    snapshot = cache.billers()
    assert snapshot is not None
    assert shared_candidates(list(snapshot.all()), SP) == [city]


def test_a_biller_deleted_by_another_process_is_gone_after_the_next_poll(
    store: SqlStore, other: SqlStore, cache: StoreCache
) -> None:
    put(store, "city")
    cache.poll()
    assert other.delete_biller("city")
    snapshot = cache.billers()
    assert snapshot is not None and snapshot.get("city") is not None  # until the next poll (the stated bound)
    cache.poll()
    snapshot = cache.billers()
    assert snapshot is not None and snapshot.get("city") is None


def test_a_biller_changed_by_another_process_is_reloaded(store: SqlStore, other: SqlStore, cache: StoreCache) -> None:
    put(store, "city")
    cache.poll()
    put(other, "city", sp="https://moved.test")
    cache.poll()
    snapshot = cache.billers()
    assert snapshot is not None
    assert snapshot.on_sp(SP) == () and [b.name for b in snapshot.on_sp("https://moved.test")] == ["city"]


def test_a_poll_with_no_change_reloads_nothing(store: SqlStore, cache: StoreCache) -> None:
    put(store, "city")
    cache.poll()
    first = cache.billers()
    cache.poll()
    assert cache.reloads == 1 and cache.billers() is first


def test_a_change_in_this_process_drops_the_snapshot_at_once(store: SqlStore, cache: StoreCache) -> None:
    put(store, "city")
    cache.poll()
    store.delete_biller("city")
    cache.invalidate_billers()
    assert cache.billers() is None  # the login reads the store until the next poll
    cache.poll()
    snapshot = cache.billers()
    assert snapshot is not None and len(snapshot) == 0


class _ChangedDuringRead:
    """A store whose list_billers is overtaken by a change this process makes while the poll reads."""

    def __init__(self, store: SqlStore) -> None:
        self.store = store
        self.cache: StoreCache | None = None

    def change_versions(self) -> dict[str, int]:
        return self.store.change_versions()

    def list_billers(self) -> list[BillerRecord]:
        records = self.store.list_billers()
        self.store.delete_biller("city")
        assert self.cache is not None
        self.cache.invalidate_billers()
        return records


def test_a_poll_overtaken_by_a_change_in_this_process_installs_nothing(store: SqlStore) -> None:
    put(store, "city")
    racing = _ChangedDuringRead(store)
    cache = StoreCache(racing, refresh=1.0)  # type: ignore[arg-type]  # the two methods poll uses
    racing.cache = cache
    cache.poll()
    assert cache.billers() is None  # what it read is older than the change: not installed
