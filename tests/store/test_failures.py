"""When the backend cannot answer, every method says StoreUnavailable (never a raw driver error)."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from store_backends import BACKENDS, make_store

from bridge.errors import StoreUnavailable
from bridge.store import ApiKeyRecord, AuditEvent, BillerRecord, KeyRecord, MetadataFetch, SqlStore, open_store_url
from bridge.store.redis_once import RedisOnceSet

T = datetime(2030, 1, 1, tzinfo=UTC)
KEY = KeyRecord("k1", "pending", "pem", "certs/k1.key", T)

CALLS: dict[str, Callable[[SqlStore], Any]] = {
    "migrate": lambda s: s.migrate(),
    "schema_status": lambda s: s.schema_status(),
    "ping": lambda s: s.ping(),
    "use_once": lambda s: s.use_once("ticket", "k", T),
    "put_pending": lambda s: s.put_pending("p", {}, T),
    "take_pending": lambda s: s.take_pending("p", T),
    "list_keys": lambda s: s.list_keys(),
    "add_key": lambda s: s.add_key(KEY),
    "update_key": lambda s: s.update_key(KEY, expected_state="pending"),
    "delete_key": lambda s: s.delete_key("k1"),
    "put_biller": lambda s: s.put_biller(BillerRecord("b", "g", "sp")),
    "get_biller": lambda s: s.get_biller("b"),
    "get_biller_by_guid": lambda s: s.get_biller_by_guid("g"),
    "list_billers": lambda s: s.list_billers(),
    "delete_biller": lambda s: s.delete_biller("b"),
    "add_api_key": lambda s: s.add_api_key(ApiKeyRecord("k", "b", "h", T)),
    "get_api_key": lambda s: s.get_api_key("k"),
    "revoke_api_keys": lambda s: s.revoke_api_keys("b", T),
    "record_audit": lambda s: s.record_audit(AuditEvent(T, "e", "ok")),
    "audit_events": lambda s: s.audit_events(limit=3),
    "iter_audit": lambda s: list(s.iter_audit()),
    "record_metadata_fetch": lambda s: s.record_metadata_fetch(MetadataFetch(T, None, None, ())),
    "metadata_fetches": lambda s: s.metadata_fetches(),
    "hit": lambda s: s.hit("b", T, T),
    "revoke_sessions": lambda s: s.revoke_sessions("payer:all", T, T),
    "sessions_revoked_before": lambda s: s.sessions_revoked_before(("payer:all",)),
    "change_versions": lambda s: s.change_versions(),
    "purge_expired": lambda s: s.purge_expired(T, audit_before=T),
}
NEEDS_TABLES = set(CALLS) - {"migrate", "schema_status", "ping"}


@pytest.mark.parametrize("kind", BACKENDS)
def test_every_method_of_a_closed_store_is_unavailable(kind: str, tmp_path: Path) -> None:
    with make_store(kind, tmp_path) as store:
        store.close()
        answered = []
        for name, call in CALLS.items():
            try:
                call(store)
            except StoreUnavailable:
                continue
            answered.append(name)
        assert answered == []


@pytest.mark.parametrize("kind", BACKENDS)
def test_every_method_without_its_tables_is_unavailable(kind: str, tmp_path: Path) -> None:
    with make_store(kind, tmp_path, migrate=False) as store:
        for name in sorted(NEEDS_TABLES):
            with pytest.raises(StoreUnavailable) as caught:
                CALLS[name](store)
            assert caught.value.__cause__ is not None, name  # the driver's error, kept for the log


def test_ping_of_an_unreachable_postgres_is_unavailable(tmp_path: Path) -> None:
    store = open_store_url("postgresql://127.0.0.1:1/test", base_dir=tmp_path, timeout=0.5)
    try:
        for name in ("ping", "use_once", "record_audit"):
            with pytest.raises(StoreUnavailable, match="PostgreSQL"):
                CALLS[name](store)
    finally:
        store.close()


def test_ping_of_sqlite_in_a_missing_read_only_folder_is_unavailable(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    store = open_store_url(f"sqlite:///{locked / 'missing' / 'bridge.db'}", base_dir=tmp_path)
    try:
        with pytest.raises(StoreUnavailable, match="unable to open"):
            store.ping()
    finally:
        store.close()


def test_sqlite_write_lock_held_past_the_busy_timeout_is_unavailable(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'bridge.db'}"
    store = open_store_url(url, base_dir=tmp_path, timeout=0.2)
    store.migrate()
    holder = sqlite3.connect(tmp_path / "bridge.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        started = time.monotonic()
        with pytest.raises(StoreUnavailable, match="locked"):
            store.use_once("ticket", "k", T + timedelta(minutes=1))
        assert time.monotonic() - started >= 0.2
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        store.close()


def test_unreachable_redis_is_unavailable() -> None:
    once = RedisOnceSet.from_url("redis://127.0.0.1:1/0", timeout=0.5)
    try:
        with pytest.raises(StoreUnavailable, match="Redis"):
            once.use_once("ticket", "k", T)
        with pytest.raises(StoreUnavailable, match="Redis"):
            once.ping()
    finally:
        once.close()
