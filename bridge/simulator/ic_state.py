"""The simulator's Invoice Cloud records for Remote Authentication: customers, registrations, tokens, faults.

Kept in its own SQLite file in the instance folder (``simulator-ic.db``), so every worker process of a
development instance sees the same IC and a restart keeps it. IC behaviour it models, on purpose:

- "Create Customer Record" creates a record every time it is called, even for an account that has one:
  a caller that creates twice leaves two records (the bridge's tests count them).
- Registrations are per (account, email) with the LoginTypeID given; registering LoginTypeID 5 on an
  account with no LoginTypeID 1 is accepted (IC's standard behaviour) and noted as such.
- Tokens are random, single use, and expire; only their SHA-256 is kept.
- Faults queued per operation are served in order (timeout, 401, 500, malformed body, IC error message).
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

FAULTS = ("timeout", "unauthorized", "server_error", "malformed", "ic_error")
TOKEN_LIFETIME = timedelta(minutes=2)
_SCHEMA = """
CREATE TABLE IF NOT EXISTS customers (
    customer_guid TEXT PRIMARY KEY, biller_guid TEXT NOT NULL, account_number TEXT NOT NULL,
    email TEXT NOT NULL, created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS registrations (
    biller_guid TEXT NOT NULL, account_number TEXT NOT NULL, email TEXT NOT NULL, login_type_id INTEGER NOT NULL,
    PRIMARY KEY (biller_guid, account_number, email));
CREATE TABLE IF NOT EXISTS tokens (
    token_hash TEXT PRIMARY KEY, biller_guid TEXT NOT NULL, account_number TEXT NOT NULL, email TEXT NOT NULL,
    login_type_id INTEGER NOT NULL, css_url TEXT, expires_at TEXT NOT NULL, used INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS faults (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, operation TEXT NOT NULL, kind TEXT NOT NULL);
"""


@dataclass(frozen=True, slots=True)
class Registration:
    account_number: str
    email: str
    login_type_id: int


@dataclass(frozen=True, slots=True)
class TokenGrant:
    """What a redeemed token says: who IC signs in, to which account."""

    biller_guid: str
    account_number: str
    email: str
    login_type_id: int
    css_url: str | None


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class ICState:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()  # one writer per process; WAL and busy_timeout order processes
        db = sqlite3.connect(path, timeout=10)
        try:  # executescript commits on its own: outside _db's transaction
            db.execute("PRAGMA journal_mode = WAL")
            db.executescript(_SCHEMA)
        finally:
            db.close()

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            db = sqlite3.connect(self.path, timeout=10, isolation_level=None)
            try:
                db.execute("BEGIN IMMEDIATE")
                yield db
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
            finally:
                db.close()

    # IC's records

    def account_exists(self, biller_guid: str, account: str) -> bool:
        with self._db() as db:
            row = db.execute("SELECT 1 FROM customers WHERE biller_guid = ? AND account_number = ?",
                             (biller_guid, account)).fetchone()
        return row is not None

    def customer_records(self, biller_guid: str, account: str) -> int:
        with self._db() as db:
            (count,) = db.execute("SELECT COUNT(*) FROM customers WHERE biller_guid = ? AND account_number = ?",
                                  (biller_guid, account)).fetchone()
        return int(count)

    def create_customer(self, biller_guid: str, account: str, email: str, *, now: datetime) -> str:
        guid = secrets.token_hex(16)
        with self._db() as db:
            db.execute("INSERT INTO customers VALUES (?, ?, ?, ?, ?)",
                       (guid, biller_guid, account, email, now.isoformat()))
        return guid

    def registrations(self, biller_guid: str, account: str | None = None) -> list[Registration]:
        query = "SELECT account_number, email, login_type_id FROM registrations WHERE biller_guid = ?"
        params: tuple[str, ...] = (biller_guid,)
        if account is not None:
            query += " AND account_number = ?"
            params += (account,)
        with self._db() as db:
            rows = db.execute(query + " ORDER BY account_number, email", params).fetchall()
        return [Registration(*row) for row in rows]

    def register(self, biller_guid: str, account: str, email: str, login_type_id: int) -> None:
        with self._db() as db:
            db.execute("INSERT INTO registrations VALUES (?, ?, ?, ?) ON CONFLICT DO UPDATE "
                       "SET login_type_id = excluded.login_type_id", (biller_guid, account, email.casefold(),
                                                                       login_type_id))

    # tokens

    def issue_token(self, grant: TokenGrant, *, now: datetime) -> str:
        token = secrets.token_urlsafe(32)
        with self._db() as db:
            db.execute("INSERT INTO tokens VALUES (?, ?, ?, ?, ?, ?, ?, 0)", (
                _hash(token), grant.biller_guid, grant.account_number, grant.email, grant.login_type_id,
                grant.css_url, (now + TOKEN_LIFETIME).isoformat(),
            ))
        return token

    def redeem_token(self, token: str, *, now: datetime) -> TokenGrant | str:
        """The grant, or why the token is refused (unknown, used, expired). A token is spent on first use."""
        with self._db() as db:
            row = db.execute("SELECT biller_guid, account_number, email, login_type_id, css_url, expires_at, used "
                             "FROM tokens WHERE token_hash = ?", (_hash(token),)).fetchone()
            if row is None:
                return "unknown RemoteAuthenticationToken"
            if row[6]:
                return "this RemoteAuthenticationToken was already used"
            if datetime.fromisoformat(row[5]) <= now:
                return "this RemoteAuthenticationToken has expired"
            db.execute("UPDATE tokens SET used = 1 WHERE token_hash = ?", (_hash(token),))
        return TokenGrant(*row[:5])

    # faults

    def add_fault(self, operation: str, kind: str, count: int = 1) -> None:
        with self._db() as db:
            db.executemany("INSERT INTO faults (operation, kind) VALUES (?, ?)", [(operation, kind)] * count)

    def take_fault(self, operation: str) -> str | None:
        with self._db() as db:
            row = db.execute("DELETE FROM faults WHERE seq = (SELECT MIN(seq) FROM faults WHERE operation = ?) "
                             "RETURNING kind", (operation,)).fetchone()
        return row[0] if row else None
