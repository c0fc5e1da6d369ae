"""The login's batched commit: use_once_many and the writer thread that feeds it from an event loop."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from store_backends import make_store

from bridge.errors import StoreUnavailable
from bridge.store import AuditEvent, SqlStore
from bridge.store.base import OnceItem
from bridge.store.batch_writer import OFF_LOOP_FOR, BatchWriter


def _item(key: str, now: datetime, *, event: str = "login.issued") -> OnceItem:
    return OnceItem("authn-request", key, now + timedelta(minutes=5), AuditEvent(now, event, "ok", detail=key))


def test_use_once_many_marks_each_item_and_records_its_row(once_store: SqlStore, now: datetime) -> None:
    assert once_store.use_once_many([_item("sp|_a", now), _item("sp|_b", now)]) == [True, True]
    assert sorted(e.detail or "" for e in once_store.audit_events()) == ["sp|_a", "sp|_b"]
    assert once_store.use_once("authn-request", "sp|_a", now + timedelta(minutes=5)) is False


def test_use_once_many_refuses_an_item_used_before_without_its_row(once_store: SqlStore, now: datetime) -> None:
    once_store.use_once("authn-request", "sp|_a", now + timedelta(minutes=5))
    assert once_store.use_once_many([_item("sp|_a", now), _item("sp|_b", now)]) == [False, True]
    assert [e.detail for e in once_store.audit_events()] == ["sp|_b"]


def test_use_once_many_lets_only_the_first_copy_in_one_batch_win(once_store: SqlStore, now: datetime) -> None:
    assert once_store.use_once_many([_item("sp|_a", now), _item("sp|_a", now, event="copy")]) == [True, False]
    assert [e.event for e in once_store.audit_events()] == ["login.issued"]


class _Broken:
    """A store whose batched commit fails as a full disk would, on the loop and on the writer thread."""

    def use_once_many(self, items: list[OnceItem]) -> list[bool]:
        raise StoreUnavailable("the SQLite store cannot answer: disk I/O error")

    use_once_many_now = use_once_many


async def _concurrently(writer: BatchWriter, items: list[OnceItem]) -> list[bool | BaseException]:
    return await asyncio.gather(*(writer.use_once(item) for item in items), return_exceptions=True)


def test_the_writer_commits_concurrent_logins_and_answers_each(store: SqlStore, now: datetime) -> None:
    writer = BatchWriter(store)
    try:
        items = [_item(f"sp|_{i}", now) for i in range(40)] + [_item("sp|_0", now, event="replay")]
        results = asyncio.run(_concurrently(writer, items))
    finally:
        writer.close()
    assert results == [True] * 40 + [False]
    assert len(store.audit_events()) == 40


def test_the_writer_fails_every_caller_of_a_failed_batch_closed(now: datetime) -> None:
    writer = BatchWriter(_Broken())  # type: ignore[arg-type]
    try:
        results = asyncio.run(_concurrently(writer, [_item("sp|_a", now), _item("sp|_b", now)]))
    finally:
        writer.close()
    assert all(isinstance(r, StoreUnavailable) and "disk I/O error" in r.detail for r in results)


def test_a_login_waits_for_the_writer_thread_while_another_writer_holds_sqlites_lock(
    tmp_path: Path, now: datetime
) -> None:
    with make_store("sqlite", tmp_path) as store:
        writer = BatchWriter(store)
        other = sqlite3.connect(tmp_path / "bridge.db", isolation_level=None, check_same_thread=False)
        other.execute("BEGIN IMMEDIATE")  # another process writing: the loop must not wait for it
        threading.Timer(0.3, other.execute, args=("COMMIT",)).start()
        try:
            assert store.use_once_many_now([_item("sp|_a", now)]) is None  # nothing written, no wait
            started = time.monotonic()
            assert asyncio.run(writer.use_once(_item("sp|_b", now))) is True
            assert time.monotonic() - started >= 0.2  # committed once the other writer let go
        finally:
            writer.close()
            other.close()
        assert [e.detail for e in store.audit_events()] == ["sp|_b"]


def test_postgres_never_commits_on_the_event_loop(tmp_path: Path, now: datetime) -> None:
    with make_store("postgres", tmp_path) as store:
        assert store.use_once_many_now([_item("sp|_a", now)]) is None
        assert store.audit_events() == []


def test_a_closed_writer_refuses_new_work(store: SqlStore, now: datetime) -> None:
    writer = BatchWriter(store)
    writer.close()
    with pytest.raises(StoreUnavailable, match="shutting down"):
        asyncio.run(writer.use_once(_item("sp|_a", now)))
    assert store.audit_events() == []


class _SlowDisk:
    """A store whose commit on the loop takes 50 ms of the (injected) clock, as an fsync on a busy disk."""

    def __init__(self, store: SqlStore, ticks: list[float]) -> None:
        self.store, self.ticks, self.on_loop, self.on_thread = store, ticks, 0, 0

    def use_once_many_now(self, items: list[OnceItem]) -> list[bool] | None:
        self.on_loop += 1
        self.ticks[0] += 0.05
        return self.store.use_once_many(items)

    def use_once_many(self, items: list[OnceItem]) -> list[bool]:
        self.on_thread += 1
        return self.store.use_once_many(items)


def test_a_slow_commit_moves_commits_off_the_event_loop_for_a_while(store: SqlStore, now: datetime) -> None:
    ticks = [0.0]
    slow = _SlowDisk(store, ticks)
    writer = BatchWriter(slow, monotonic=lambda: ticks[0])  # type: ignore[arg-type]
    try:
        assert asyncio.run(writer.use_once(_item("sp|_a", now))) is True  # on the loop, found slow
        assert asyncio.run(writer.use_once(_item("sp|_b", now))) is True  # the writer thread's
        ticks[0] += OFF_LOOP_FOR
        assert asyncio.run(writer.use_once(_item("sp|_c", now))) is True  # the loop tries again
    finally:
        writer.close()
    assert (slow.on_loop, slow.on_thread) == (2, 1)
