"""The one SQL implementation of :class:`bridge.store.base.Store`, shared by SQLite and PostgreSQL.

Owns every query and the migration runner. What differs between the two
databases is small and lives elsewhere: SQL spelling in a :class:`Dialect`
(placeholder style, the migration lock, how to ask whether a table exists),
connections, transactions and driver errors in a :class:`Backend`
(:mod:`bridge.store.sqlite`, :mod:`bridge.store.postgres`).

Times are stored as BIGINT microseconds since the Unix epoch, UTC, in both
databases: exact, compared as numbers, and identical whichever backend wrote
them. JSON (biller settings, pending requests, key IDs) is stored as TEXT.
"""

from __future__ import annotations

import functools
import json
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar

from bridge.clock import utcnow
from bridge.errors import StoreConflict
from bridge.store import schema
from bridge.store.base import ApiKeyRecord, AuditEvent, BillerRecord, KeyRecord, MetadataFetch, OnceItem
from bridge.store.schema import SchemaStatus

T = TypeVar("T")

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
# Purges delete in batches, each its own short transaction, so a large backlog never holds
# SQLite's single writer lock long enough to time out a login.
PURGE_BATCH = 5000


def to_us(value: datetime) -> int:
    """Microseconds since the epoch; naive datetimes are refused rather than guessed at."""
    if value.tzinfo is None:
        raise ValueError("store times must be timezone-aware (UTC)")
    return (value - _EPOCH) // _MICROSECOND


def from_us(value: int) -> datetime:
    return _EPOCH + value * _MICROSECOND


def _maybe_us(value: datetime | None) -> int | None:
    return None if value is None else to_us(value)


def _maybe_dt(value: int | None) -> datetime | None:
    return None if value is None else from_us(value)


class _Sequence:
    """Strictly increasing within a process (wall-clock nanoseconds, bumped past the last value).

    Orders audit rows that share a timestamp (one login writes several events with the same
    ``now``) without an auto-increment column, whose spelling differs between the databases.
    """

    def __init__(self) -> None:
        self._last = 0
        self._lock = threading.Lock()

    def next(self) -> int:
        with self._lock:
            self._last = max(self._last + 1, time.time_ns())
            return self._last


_seq = _Sequence()


@dataclass(frozen=True)
class Dialect:
    """The SQL spelling that differs between databases. Queries are written with ``?``."""

    name: str  # "sqlite" | "postgres": also picks NNNN_name.<name>.sql migrations
    label: str  # for messages
    placeholder: str
    table_exists: str  # one row whose first column is not NULL when the table exists
    migration_lock: str | None = None  # serialises concurrent migrate() calls
    # INSERT inside WITH (PostgreSQL): a mark and its audit row in one statement, one round trip.
    data_modifying_cte: bool = False

    @functools.cache  # noqa: B019 - dialects are module constants, never collected
    def sql(self, text: str) -> str:
        return text if self.placeholder == "?" else text.replace("?", self.placeholder)


class Cursor(Protocol):
    """The DB-API subset both drivers share."""

    rowcount: int

    def execute(self, query: Any, params: Sequence[Any] | None = ...) -> Any: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class Backend(Protocol):
    """Connections and transactions for one database; maps driver errors to StoreUnavailable/StoreConflict."""

    dialect: Dialect

    def read(self) -> AbstractContextManager[Cursor]: ...

    def write(self) -> AbstractContextManager[Cursor]:
        """For one statement: atomic on its own, committed on exit."""

    def transaction(self) -> AbstractContextManager[Cursor]:
        """For several statements: all or nothing."""

    def write_one(self, query: str, params: Sequence[Any]) -> tuple[int, list[Any]]:
        """One statement, committed before this returns: (rowcount, the rows it returned).

        The login path's writes (single-use marks, audit rows, rate windows) come this way, so a
        backend may commit concurrent callers' statements together (SQLite's group commit).
        """

    def write_group(self, work: Callable[[Cursor], T]) -> T:
        """``work(cursor)``'s statements, all or nothing, committed before this returns; its result.

        An exception from ``work`` undoes its statements and reaches the caller. Like
        ``write_one``, a backend may commit concurrent callers' work together.
        """

    def write_now(self, work: Callable[[Cursor], T]) -> tuple[bool, T | None]:
        """``work`` in its own transaction on the calling thread, only if that needs no wait at all:
        ``(True, result)`` once committed, ``(False, None)`` when it would wait (a lock another writer
        holds, or a database across the network). For callers on an event loop (bridge.store.batch_writer)."""

    def close(self) -> None: ...


class OnceSet(Protocol):
    """Somewhere else to keep single-use marks (bridge.store.redis_once)."""

    def use_once(self, namespace: str, key: str, expires_at: datetime) -> bool: ...

    def ping(self) -> None: ...

    def close(self) -> None: ...


# --- queries (written once, with "?" placeholders) -------------------------------

_USE_ONCE = "INSERT INTO used_once (namespace, key, expires_us) VALUES (?, ?, ?) ON CONFLICT DO NOTHING"
_PUT_PENDING = """INSERT INTO pending_requests (pending_id, data, expires_us) VALUES (?, ?, ?)
    ON CONFLICT (pending_id) DO UPDATE SET data = excluded.data, expires_us = excluded.expires_us"""
_TAKE_PENDING = "DELETE FROM pending_requests WHERE pending_id = ? RETURNING data, expires_us"

_KEY_COLUMNS = (
    "kid, state, cert_pem, key_path, created_us, published_us, activated_us, retiring_us, retired_us, ring"
)
_LIST_KEYS = f"SELECT {_KEY_COLUMNS} FROM signing_keys ORDER BY created_us, kid"  # noqa: S608 - constants
_ADD_KEY = f"INSERT INTO signing_keys ({_KEY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"  # noqa: S608
_UPDATE_KEY = """UPDATE signing_keys SET state = ?, cert_pem = ?, key_path = ?, created_us = ?,
    published_us = ?, activated_us = ?, retiring_us = ?, retired_us = ?, ring = ? WHERE kid = ? AND state = ?"""
_DELETE_KEY = "DELETE FROM signing_keys WHERE kid = ?"

_BILLER_COLUMNS = "name, biller_guid, sp_entity_id, settings, created_us"
_PUT_BILLER = f"""INSERT INTO billers ({_BILLER_COLUMNS}) VALUES (?, ?, ?, ?, ?)
    ON CONFLICT (name) DO UPDATE SET biller_guid = excluded.biller_guid,
    sp_entity_id = excluded.sp_entity_id, settings = excluded.settings,
    created_us = COALESCE(excluded.created_us, billers.created_us)"""  # noqa: S608
_GET_BILLER = f"SELECT {_BILLER_COLUMNS} FROM billers WHERE name = ?"  # noqa: S608
_GET_BILLER_BY_GUID = f"SELECT {_BILLER_COLUMNS} FROM billers WHERE biller_guid = ?"  # noqa: S608
_LIST_BILLERS = f"SELECT {_BILLER_COLUMNS} FROM billers ORDER BY name"  # noqa: S608
_DELETE_BILLER = "DELETE FROM billers WHERE name = ?"

_API_KEY_COLUMNS = "key_id, biller, secret_hash, created_us, revoked_us"
_ADD_API_KEY = f"INSERT INTO api_keys ({_API_KEY_COLUMNS}) VALUES (?, ?, ?, ?, ?)"  # noqa: S608
_GET_API_KEY = f"SELECT {_API_KEY_COLUMNS} FROM api_keys WHERE key_id = ?"  # noqa: S608
_REVOKE_API_KEYS = "UPDATE api_keys SET revoked_us = ? WHERE biller = ? AND revoked_us IS NULL"

_AUDIT_FIELDS = (
    "event", "outcome", "biller", "sp", "account", "email",
    "login_type", "flow", "client_ip", "actor", "detail",
)  # fmt: skip
_AUDIT_COLUMNS = "at_us, seq, " + ", ".join(_AUDIT_FIELDS)
_AUDIT_VALUES = ", ".join(["?"] * (2 + len(_AUDIT_FIELDS)))
_RECORD_AUDIT = f"INSERT INTO audit_events ({_AUDIT_COLUMNS}) VALUES ({_AUDIT_VALUES})"  # noqa: S608
# The audit row exists only when the mark was new; rowcount 1 means both were written.
_USE_ONCE_AUDITED = (
    f"WITH mark AS ({_USE_ONCE} RETURNING 1) INSERT INTO audit_events ({_AUDIT_COLUMNS}) "  # noqa: S608 - constants
    f"SELECT {_AUDIT_VALUES} FROM mark"
)



class _OncePlan:
    """One batch of single-use marks with their audit rows: two statements whatever the count.

    A copy of a request later in the same batch loses to the first, as it would in a later batch.
    """

    def __init__(self, items: Sequence[OnceItem], sql: Callable[[str], str]) -> None:
        self.items = items
        self._sql = sql
        seen: set[tuple[str, str]] = set()
        self.first: list[bool] = []
        for item in items:
            self.first.append((item.namespace, item.key) not in seen)
            seen.add((item.namespace, item.key))
        self.fresh = [item for item, is_first in zip(items, self.first, strict=True) if is_first]

    def run(self, cur: Cursor) -> set[tuple[str, str]]:
        marks = [p for i in self.fresh for p in (i.namespace, i.key, to_us(i.expires_at))]
        cur.execute(self._sql(_use_once_rows(len(self.fresh))), marks)
        new = {(row[0], row[1]) for row in cur.fetchall()}
        events = [i.audit for i in self.fresh if i.audit is not None and (i.namespace, i.key) in new]
        if events:
            cur.execute(self._sql(_record_audit_rows(len(events))), [p for e in events for p in _audit_params(e)])
        return new

    def results(self, new: set[tuple[str, str]]) -> list[bool]:
        return [is_first and (i.namespace, i.key) in new for i, is_first in zip(self.items, self.first, strict=True)]


@functools.cache
def _use_once_rows(count: int) -> str:
    values = ", ".join(["(?, ?, ?)"] * count)
    return (f"INSERT INTO used_once (namespace, key, expires_us) VALUES {values} "  # noqa: S608 - constants
            "ON CONFLICT DO NOTHING RETURNING namespace, key")


@functools.cache
def _record_audit_rows(count: int) -> str:
    values = ", ".join([f"({_AUDIT_VALUES})"] * count)
    return f"INSERT INTO audit_events ({_AUDIT_COLUMNS}) VALUES {values}"  # noqa: S608 - constants


_FETCH_COLUMNS = "at_us, seq, client_ip, user_agent, kids"
_RECORD_FETCH = f"INSERT INTO metadata_fetches ({_FETCH_COLUMNS}) VALUES (?, ?, ?, ?, ?)"  # noqa: S608

# Taken when free or expired; rowcount 1 means this holder has it now.
_ACQUIRE_LEASE = """INSERT INTO leases (name, holder, expires_us) VALUES (?, ?, ?)
    ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_us = excluded.expires_us
    WHERE leases.expires_us <= ?"""
_RELEASE_LEASE = "DELETE FROM leases WHERE name = ? AND holder = ?"

_REVOKE_SESSIONS = """INSERT INTO session_revocations (scope, not_before_us, expires_us) VALUES (?, ?, ?)
    ON CONFLICT (scope) DO UPDATE SET not_before_us = excluded.not_before_us, expires_us = excluded.expires_us"""
_SESSIONS_REVOKED = "SELECT MAX(not_before_us) FROM session_revocations WHERE scope IN ({marks})"

_CHANGE_VERSIONS = "SELECT topic, version FROM change_versions"

_PING_BUCKET = "store-ping"
_HIT = """INSERT INTO rate_windows (bucket, window_start_us, hits, expires_us) VALUES (?, ?, ?, ?)
    ON CONFLICT (bucket, window_start_us) DO UPDATE SET hits = rate_windows.hits + excluded.hits RETURNING hits"""

# (table, the key that names one row, the column compared with the cut-off)
_PURGES_EXPIRED = (
    ("used_once", "namespace, key", "expires_us"),
    ("pending_requests", "pending_id", "expires_us"),
    ("rate_windows", "bucket, window_start_us", "expires_us"),
    ("leases", "name", "expires_us"),
    ("session_revocations", "scope", "expires_us"),
)
_PURGES_HISTORY = (
    ("audit_events", "at_us, seq", "at_us"),
    ("metadata_fetches", "at_us, seq", "at_us"),
)


def _purge_query(table: str, key: str, column: str) -> str:
    # Row-value IN (SELECT ... LIMIT) deletes one bounded batch; both databases accept it.
    return (
        f"DELETE FROM {table} WHERE ({key}) IN "  # noqa: S608 - names come from the constants above
        f"(SELECT {key} FROM {table} WHERE {column} < ? LIMIT ?)"
    )


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _key(row: Sequence[Any]) -> KeyRecord:
    kid, state, cert_pem, key_path, created, published, activated, retiring, retired, ring = row
    return KeyRecord(
        kid, state, cert_pem, key_path, from_us(created),
        _maybe_dt(published), _maybe_dt(activated), _maybe_dt(retiring), _maybe_dt(retired), ring,
    )  # fmt: skip


def _biller(row: Sequence[Any]) -> BillerRecord:
    name, guid, sp, settings, created = row
    return BillerRecord(name, guid, sp, json.loads(settings), _maybe_dt(created))


def _audit(row: Sequence[Any]) -> AuditEvent:
    return AuditEvent(from_us(row[0]), *row[2:])


def _fetch(row: Sequence[Any]) -> MetadataFetch:
    at, _seq_value, client_ip, user_agent, kids = row
    return MetadataFetch(from_us(at), client_ip, user_agent, tuple(json.loads(kids)))


class SqlStore:
    """The Store over any :class:`Backend`; single-use marks optionally kept in a :class:`OnceSet`."""

    def __init__(self, backend: Backend, *, once: OnceSet | None = None) -> None:
        self._backend = backend
        self._sql = backend.dialect.sql
        self._once = once

    @property
    def dialect(self) -> Dialect:
        return self._backend.dialect

    @property
    def backend(self) -> Backend:
        return self._backend

    # lifecycle

    def migrate(self) -> None:
        """Apply pending migrations in one transaction; concurrent callers queue behind the first."""
        schema.migrate(self._backend, applied_us=to_us(utcnow()))

    def schema_status(self) -> SchemaStatus:
        return schema.status(self._backend)

    def ping(self) -> None:
        """A real write, as a login makes one: a read-only file, a full disk or a lock held too long
        fail the probe, not only the next login (``SELECT 1`` passed on all three)."""
        self._backend.write_one(self._sql(_HIT), (_PING_BUCKET, 0, 1, 0))  # expired at once: purged
        if self._once is not None:
            self._once.ping()

    def close(self) -> None:
        try:
            self._backend.close()
        finally:
            if self._once is not None:
                self._once.close()

    # single use

    def use_once(
        self, namespace: str, key: str, expires_at: datetime, *, audit: AuditEvent | None = None
    ) -> bool:
        """True the first time; the mark stays (and refuses) until purge_expired passes expires_at.

        With ``audit``, the event is recorded with the mark in one transaction (one commit on
        the login path, not two), and only when the mark is new. With Redis marks, the row
        follows the mark: if it then fails, the mark stays and the caller fails closed.
        """
        if self._once is not None:
            first = self._once.use_once(namespace, key, expires_at)
            if first and audit is not None:
                self.record_audit(audit)
            return first
        mark = (self._sql(_USE_ONCE), (namespace, key, to_us(expires_at)))
        if audit is None:
            count, _rows = self._backend.write_one(*mark)
            return count == 1
        if self.dialect.data_modifying_cte:
            count, _rows = self._backend.write_one(self._sql(_USE_ONCE_AUDITED), (*mark[1], *_audit_params(audit)))
            return count == 1
        record = (self._sql(_RECORD_AUDIT), _audit_params(audit))

        def mark_and_record(cur: Cursor) -> bool:
            cur.execute(*mark)
            if cur.rowcount != 1:
                return False
            cur.execute(*record)
            return True

        return self._backend.write_group(mark_and_record)

    def use_once_many_now(self, items: Sequence[OnceItem]) -> list[bool] | None:
        """:meth:`use_once_many` on the calling thread if the store can commit without a wait, else None
        (nothing written): a local SQLite file whose write lock is free; never a server over the network."""
        if self._once is not None:
            return None
        plan = _OncePlan(items, self._sql)
        done, new = self._backend.write_now(plan.run)
        return plan.results(new) if done and new is not None else None

    def use_once_many(self, items: Sequence[OnceItem]) -> list[bool]:
        """:meth:`use_once` (with its audit row) for many callers in one transaction: one commit for all.

        Two statements whatever the count, so the writer thread that calls this holds the
        GIL and the write lock briefly (bridge.store.batch_writer). All or nothing: if the
        transaction fails, StoreUnavailable and no row of any item exists. An item whose
        mark was taken before (or earlier in the same batch) gets False and no audit row.
        """
        if not items:
            return []
        if self._once is not None:
            return [self.use_once(i.namespace, i.key, i.expires_at, audit=i.audit) for i in items]
        plan = _OncePlan(items, self._sql)
        return plan.results(self._backend.write_group(plan.run))

    # leases

    def acquire_lease(self, name: str, holder: str, *, now: datetime, expires_at: datetime) -> bool:
        """Take ``name`` for ``holder`` until ``expires_at`` if nobody holds it or its holder's time ran out."""
        params = (name, holder, to_us(expires_at), to_us(now))
        count, _rows = self._backend.write_one(self._sql(_ACQUIRE_LEASE), params)
        return count == 1

    def release_lease(self, name: str, holder: str) -> None:
        """Give ``name`` back; a lease another holder took over after ours expired stays theirs."""
        self._backend.write_one(self._sql(_RELEASE_LEASE), (name, holder))

    # pending AuthnRequests

    def put_pending(self, pending_id: str, data: dict[str, Any], expires_at: datetime) -> None:
        with self._backend.write() as cur:
            cur.execute(self._sql(_PUT_PENDING), (pending_id, _dumps(data), to_us(expires_at)))

    def take_pending(self, pending_id: str, now: datetime) -> dict[str, Any] | None:
        with self._backend.write() as cur:
            cur.execute(self._sql(_TAKE_PENDING), (pending_id,))
            rows = cur.fetchall()
        if not rows or rows[0][1] <= to_us(now):
            return None
        data: dict[str, Any] = json.loads(rows[0][0])
        return data

    # signing keys

    def list_keys(self) -> list[KeyRecord]:
        with self._backend.read() as cur:
            cur.execute(_LIST_KEYS)
            return [_key(row) for row in cur.fetchall()]

    def add_key(self, record: KeyRecord) -> None:
        self._insert(_ADD_KEY, _key_params(record), f"signing key {record.kid} already exists")

    def update_key(self, record: KeyRecord, *, expected_state: str) -> bool:
        params = (*_key_params(record)[1:], record.kid, expected_state)
        with self._backend.write() as cur:
            cur.execute(self._sql(_UPDATE_KEY), params)
            return cur.rowcount == 1

    def delete_key(self, kid: str) -> None:
        with self._backend.write() as cur:
            cur.execute(self._sql(_DELETE_KEY), (kid,))

    # billers and API keys

    def put_biller(self, record: BillerRecord) -> None:
        """Insert or replace; a replacement without ``created_at`` keeps the stored one."""
        params = (
            record.name, record.biller_guid, record.sp_entity_id,
            _dumps(record.settings), _maybe_us(record.created_at),
        )  # fmt: skip
        self._insert(_PUT_BILLER, params, f"biller GUID {record.biller_guid} belongs to another biller")

    def get_biller(self, name: str) -> BillerRecord | None:
        return self._one_biller(_GET_BILLER, name)

    def get_biller_by_guid(self, biller_guid: str) -> BillerRecord | None:
        return self._one_biller(_GET_BILLER_BY_GUID, biller_guid)

    def list_billers(self) -> list[BillerRecord]:
        with self._backend.read() as cur:
            cur.execute(_LIST_BILLERS)
            return [_biller(row) for row in cur.fetchall()]

    def delete_biller(self, name: str) -> bool:
        """Also deletes the biller's API keys (ON DELETE CASCADE)."""
        with self._backend.write() as cur:
            cur.execute(self._sql(_DELETE_BILLER), (name,))
            return cur.rowcount > 0

    def add_api_key(self, record: ApiKeyRecord) -> None:
        params = (
            record.key_id, record.biller, record.secret_hash,
            to_us(record.created_at), _maybe_us(record.revoked_at),
        )  # fmt: skip
        conflict = f"API key {record.key_id} already exists, or biller {record.biller} does not"
        self._insert(_ADD_API_KEY, params, conflict)

    def get_api_key(self, key_id: str) -> ApiKeyRecord | None:
        with self._backend.read() as cur:
            cur.execute(self._sql(_GET_API_KEY), (key_id,))
            row = cur.fetchone()
        if row is None:
            return None
        return ApiKeyRecord(row[0], row[1], row[2], from_us(row[3]), _maybe_dt(row[4]))

    def revoke_api_keys(self, biller: str, at: datetime) -> int:
        with self._backend.write() as cur:
            cur.execute(self._sql(_REVOKE_API_KEYS), (to_us(at), biller))
            return int(cur.rowcount)

    # audit trail

    def record_audit(self, event: AuditEvent) -> None:
        self._backend.write_one(self._sql(_RECORD_AUDIT), _audit_params(event))

    def audit_events(
        self, *, since: datetime | None = None, biller: str | None = None, limit: int | None = None,
        event: str | None = None,
    ) -> list[AuditEvent]:
        """Oldest first. With ``limit``, the newest ``limit`` matching events (as ``tail`` shows them)."""
        if limit is not None and limit <= 0:
            return []
        where, params = _audit_filter(since, biller, event)
        if limit is None:
            query = f"SELECT {_AUDIT_COLUMNS} FROM audit_events{where} ORDER BY at_us, seq"  # noqa: S608
        else:
            query = f"SELECT {_AUDIT_COLUMNS} FROM audit_events{where} ORDER BY at_us DESC, seq DESC LIMIT ?"  # noqa: S608
            params.append(limit)
        with self._backend.read() as cur:
            cur.execute(self._sql(query), params)
            rows = cur.fetchall()
        if limit is not None:
            rows.reverse()
        return [_audit(row) for row in rows]

    def iter_audit(
        self, *, since: datetime | None = None, biller: str | None = None, batch: int = 1000,
        event: str | None = None,
    ) -> Iterator[AuditEvent]:
        """Every matching event, oldest first, read in batches (for exports of any size)."""
        where, params = _audit_filter(since, biller, event)
        after = " AND (at_us, seq) > (?, ?)" if where else " WHERE (at_us, seq) > (?, ?)"
        query = self._sql(
            f"SELECT {_AUDIT_COLUMNS} FROM audit_events{where}{after} ORDER BY at_us, seq LIMIT ?"  # noqa: S608
        )
        last = (-(2**62), -(2**62))
        while True:
            with self._backend.read() as cur:
                cur.execute(query, [*params, *last, batch])
                rows = cur.fetchall()
            yield from (_audit(row) for row in rows)
            if len(rows) < batch:
                return
            last = (rows[-1][0], rows[-1][1])

    # rollover guard

    def record_metadata_fetch(self, fetch: MetadataFetch) -> None:
        params = (to_us(fetch.at), _seq.next(), fetch.client_ip, fetch.user_agent, _dumps(list(fetch.kids)))
        with self._backend.write() as cur:
            cur.execute(self._sql(_RECORD_FETCH), params)

    def metadata_fetches(self, *, since: datetime | None = None) -> list[MetadataFetch]:
        query = f"SELECT {_FETCH_COLUMNS} FROM metadata_fetches"  # noqa: S608
        params: list[Any] = []
        if since is not None:
            query += " WHERE at_us >= ?"
            params.append(to_us(since))
        with self._backend.read() as cur:
            cur.execute(self._sql(query + " ORDER BY at_us, seq"), params)
            return [_fetch(row) for row in cur.fetchall()]

    # rate limiting

    def hit(self, bucket: str, window_start: datetime, expires_at: datetime, count: int = 1) -> int:
        params = (bucket, to_us(window_start), count, to_us(expires_at))
        _count, rows = self._backend.write_one(self._sql(_HIT), params)
        return int(rows[0][0])

    # session revocations (bridge.session_state)

    def revoke_sessions(self, scope: str, not_before: datetime, expires_at: datetime) -> None:
        """Sessions of ``scope`` that started before ``not_before`` are revoked until ``expires_at``."""
        with self._backend.write() as cur:
            cur.execute(self._sql(_REVOKE_SESSIONS), (scope, to_us(not_before), to_us(expires_at)))

    def sessions_revoked_before(self, scopes: Sequence[str]) -> int | None:
        """The latest ``not_before`` (microseconds) over ``scopes``, or None: one indexed read per session use."""
        query = _SESSIONS_REVOKED.format(marks=", ".join("?" * len(scopes)))
        with self._backend.read() as cur:
            cur.execute(self._sql(query), tuple(scopes))
            row = cur.fetchone()
        return None if row is None or row[0] is None else int(row[0])

    # change versions (migration 0080): bumped by the database's own triggers, read by bridge.store_cache

    def change_versions(self) -> dict[str, int]:
        """Each topic's version (``billers``, ``session_revocations``): one read of a two-row table."""
        with self._backend.read() as cur:
            cur.execute(_CHANGE_VERSIONS)
            return {str(topic): int(version) for topic, version in cur.fetchall()}

    # housekeeping

    def purge_expired(self, now: datetime, *, audit_before: datetime | None = None) -> int:
        """Delete rows whose expiry is strictly before ``now``: a mark still valid at ``now`` stays.

        ``audit_before`` also drops older audit rows and metadata fetches (the retention period).
        """
        deleted = sum(self._purge(*purge, to_us(now)) for purge in _PURGES_EXPIRED)
        if audit_before is not None:
            deleted += sum(self._purge(*purge, to_us(audit_before)) for purge in _PURGES_HISTORY)
        return deleted

    # helpers

    def _purge(self, table: str, key: str, column: str, cutoff: int) -> int:
        query = self._sql(_purge_query(table, key, column))
        total = 0
        while True:
            with self._backend.write() as cur:
                cur.execute(query, (cutoff, PURGE_BATCH))
                count = max(int(cur.rowcount), 0)
            total += count
            if count < PURGE_BATCH:
                return total

    def _insert(self, query: str, params: Sequence[Any], conflict: str) -> None:
        try:
            with self._backend.write() as cur:
                cur.execute(self._sql(query), params)
        except StoreConflict as exc:
            raise StoreConflict(conflict) from exc.__cause__

    def _one_biller(self, query: str, value: str) -> BillerRecord | None:
        with self._backend.read() as cur:
            cur.execute(self._sql(query), (value,))
            row = cur.fetchone()
        return None if row is None else _biller(row)


def _key_params(record: KeyRecord) -> tuple[Any, ...]:
    return (
        record.kid, record.state, record.cert_pem, record.key_path, to_us(record.created_at),
        _maybe_us(record.published_at), _maybe_us(record.activated_at),
        _maybe_us(record.retiring_at), _maybe_us(record.retired_at), record.ring,
    )  # fmt: skip


def _audit_params(event: AuditEvent) -> tuple[Any, ...]:
    return (to_us(event.at), _seq.next(), *(getattr(event, name) for name in _AUDIT_FIELDS))


def _audit_filter(since: datetime | None, biller: str | None, event: str | None = None) -> tuple[str, list[Any]]:
    """``event`` is a name (``login.issued``) or a family (``login`` matches ``login.*``)."""
    clauses: list[str] = []
    params: list[Any] = []
    if since is not None:
        clauses.append("at_us >= ?")
        params.append(to_us(since))
    if biller is not None:
        clauses.append("biller = ?")
        params.append(biller)
    if event is not None:
        clauses.append("(event = ? OR substr(event, 1, ?) = ?)")  # substr, not LIKE: "_" is a LIKE wildcard
        params.extend([event, len(event) + 1, event + "."])
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params
