"""Durable state of payments (tables of migration 0040), over the store's SQL backend.

Kept apart from :mod:`bridge.store.sql` (logins, keys, billers): the same backends, connections and
time encoding, queries of its own. The rules that need atomicity live here as single statements or
one transaction each: an idempotency claim, a PostBack with its state change, its outbox event and
its audit row, and an outbox lease (only one node delivers an event at a time).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from bridge.store.base import AuditEvent
from bridge.store.sql import _RECORD_AUDIT, Cursor, SqlStore, _audit_params, _maybe_dt, _maybe_us, from_us, to_us

REQUESTED, APPROVED, DECLINED = "requested", "approved", "declined"
PENDING, DELIVERED, GAVE_UP = "pending", "delivered", "gave_up"


@dataclass(frozen=True, slots=True)
class PaymentRecord:
    payment_id: str
    biller: str
    biller_guid: str
    biller_reference: str
    token_sha256: str
    state: str
    amount: Decimal
    request: dict[str, Any]
    url: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Postback:
    """One PostBack as stored: IC's fields, typed (bridge.invoicecloud.postback parses them)."""

    payment_guid: str
    approved: bool
    amount: Decimal | None
    convenience_fee: Decimal | None
    paid_at: datetime | None
    invoice_number: str | None
    payment_type_id: int | None
    card_type: str | None
    message: str | None
    description: str | None
    customer: dict[str, str] = field(default_factory=dict)  # name, address, city, state, zip
    remote_ip: str | None = None
    payment_id: str = ""
    received_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class WebhookEvent:
    event_id: str
    payment_id: str
    biller: str
    body: str
    state: str
    attempts: int
    next_attempt_at: datetime
    lease_owner: str | None
    lease_until: datetime | None
    created_at: datetime
    delivered_at: datetime | None


@dataclass(frozen=True, slots=True)
class WebhookAttempt:
    event_id: str
    attempt: int
    at: datetime
    url: str
    status: int | None
    error: str | None
    duration_ms: int


_PAYMENT_COLUMNS = ("payment_id, biller, biller_guid, biller_reference, postback_token_sha256, state, amount, "
                    "request, url, created_us, updated_us")
_POSTBACK_COLUMNS = ("payment_guid, payment_id, received_us, approved, amount, convenience_fee, paid_us, "
                     "invoice_number, payment_type_id, card_type, message, description, customer, remote_ip")
_EVENT_COLUMNS = ("event_id, payment_id, biller, body, state, attempts, next_attempt_us, lease_owner, "
                  "lease_until_us, created_us, delivered_us")
_ATTEMPT_COLUMNS = "event_id, attempt, at_us, url, status, error, duration_ms"


def _values(columns: str) -> str:
    return ", ".join("?" for _ in columns.split(","))


def _payment(row: Sequence[Any]) -> PaymentRecord:
    pid, biller, guid, ref, token, state, amount, request, url, created, updated = row
    return PaymentRecord(pid, biller, guid, ref, token, state, Decimal(amount), json.loads(request), url,
                         from_us(created), from_us(updated))


def _decimal(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def _postback(row: Sequence[Any]) -> Postback:
    (guid, pid, received, approved, amount, fee, paid, invoice, type_id, card, message, description, customer,
     remote_ip) = row
    return Postback(
        payment_guid=guid, approved=bool(approved), amount=_decimal(amount), convenience_fee=_decimal(fee),
        paid_at=_maybe_dt(paid), invoice_number=invoice, payment_type_id=type_id, card_type=card, message=message,
        description=description, customer=json.loads(customer), remote_ip=remote_ip, payment_id=pid,
        received_at=from_us(received),
    )


def _event(row: Sequence[Any]) -> WebhookEvent:
    eid, pid, biller, body, state, attempts, next_at, owner, lease, created, delivered = row
    return WebhookEvent(eid, pid, biller, body, state, int(attempts), from_us(next_at), owner, _maybe_dt(lease),
                        from_us(created), _maybe_dt(delivered))


def _attempt(row: Sequence[Any]) -> WebhookAttempt:
    eid, attempt, at, url, status, error, duration = row
    return WebhookAttempt(eid, int(attempt), from_us(at), url, status, error, int(duration))


class PaymentStore:
    """Payments, idempotency claims, PostBacks and the webhook outbox, on the instance's store."""

    def __init__(self, store: SqlStore) -> None:
        self._backend = store.backend
        self._sql = store.dialect.sql

    def _run(self, cur: Cursor, query: str, params: Sequence[Any] = ()) -> Cursor:
        cur.execute(self._sql(query), params)
        return cur

    def _rows(self, query: str, params: Sequence[Any] = ()) -> list[Any]:
        with self._backend.read() as cur:
            return list(self._run(cur, query, params).fetchall())

    def _write(self, query: str, params: Sequence[Any]) -> int:
        with self._backend.write() as cur:
            return int(self._run(cur, query, params).rowcount)

    # --- payments ---------------------------------------------------------------------------------
    def add_payment(self, record: PaymentRecord, audit: AuditEvent) -> None:
        params = (
            record.payment_id, record.biller, record.biller_guid, record.biller_reference, record.token_sha256,
            record.state, str(record.amount), json.dumps(record.request, sort_keys=True), record.url,
            to_us(record.created_at), to_us(record.updated_at),
        )
        with self._backend.transaction() as cur:
            self._run(cur, f"INSERT INTO payments ({_PAYMENT_COLUMNS}) VALUES ({_values(_PAYMENT_COLUMNS)})",  # noqa: S608
                      params)
            self._run(cur, _RECORD_AUDIT, _audit_params(audit))

    def get_payment(self, payment_id: str) -> PaymentRecord | None:
        rows = self._rows(f"SELECT {_PAYMENT_COLUMNS} FROM payments WHERE payment_id = ?", (payment_id,))  # noqa: S608
        return _payment(rows[0]) if rows else None

    def payment_by_token(self, token_sha256: str) -> PaymentRecord | None:
        query = f"SELECT {_PAYMENT_COLUMNS} FROM payments WHERE postback_token_sha256 = ?"  # noqa: S608
        rows = self._rows(query, (token_sha256,))
        return _payment(rows[0]) if rows else None

    def list_payments(self, *, biller: str | None = None, limit: int = 100) -> list[PaymentRecord]:
        """Newest first."""
        where, params = (" WHERE biller = ?", [biller]) if biller else ("", [])
        query = f"SELECT {_PAYMENT_COLUMNS} FROM payments{where} ORDER BY created_us DESC LIMIT ?"  # noqa: S608
        return [_payment(r) for r in self._rows(query, [*params, limit])]

    # --- idempotency ------------------------------------------------------------------------------
    def claim_idempotency(
        self, biller: str, key: str, fingerprint: str, *, now: datetime, expires_at: datetime,
        stale_before: datetime,
    ) -> tuple[str, dict[str, Any] | None]:
        """``("claimed", None)``: call IC and ``finish_idempotency``; ``("done", answer)``: replay it;
        ``("pending", None)``: another call holds the claim; ``("mismatch", None)``: same key, other body.

        A claim older than ``stale_before`` (its node died mid-call) or past its expiry is taken over.
        """
        insert = """INSERT INTO payment_idempotency (biller, idempotency_key, fingerprint, state, answer,
            claimed_us, expires_us) VALUES (?, ?, ?, 'pending', NULL, ?, ?) ON CONFLICT DO NOTHING"""
        if self._write(insert, (biller, key, fingerprint, to_us(now), to_us(expires_at))) == 1:
            return "claimed", None
        rows = self._rows("""SELECT fingerprint, state, answer, claimed_us, expires_us FROM payment_idempotency
            WHERE biller = ? AND idempotency_key = ?""", (biller, key))
        if not rows:  # released between our insert and read: try once more
            return self.claim_idempotency(biller, key, fingerprint, now=now, expires_at=expires_at,
                                          stale_before=stale_before)
        stored_fingerprint, state, answer, claimed_us, row_expires_us = rows[0]
        expired = row_expires_us <= to_us(now)
        if not expired and stored_fingerprint != fingerprint:
            return "mismatch", None
        if not expired and state == "done":
            return "done", json.loads(answer)
        if expired or claimed_us < to_us(stale_before):
            take_over = """UPDATE payment_idempotency SET fingerprint = ?, state = 'pending', answer = NULL,
                claimed_us = ?, expires_us = ? WHERE biller = ? AND idempotency_key = ? AND claimed_us = ?"""
            taken = self._write(take_over, (fingerprint, to_us(now), to_us(expires_at), biller, key, claimed_us))
            return ("claimed", None) if taken == 1 else ("pending", None)
        return "pending", None

    def finish_idempotency(self, biller: str, key: str, answer: dict[str, Any]) -> None:
        query = "UPDATE payment_idempotency SET state = 'done', answer = ? WHERE biller = ? AND idempotency_key = ?"
        self._write(query, (json.dumps(answer), biller, key))

    def release_idempotency(self, biller: str, key: str) -> None:
        """The call failed: a retry with the same key may try again."""
        self._write("DELETE FROM payment_idempotency WHERE biller = ? AND idempotency_key = ? AND state = 'pending'",
                    (biller, key))

    # --- PostBacks --------------------------------------------------------------------------------
    def record_postback(
        self, payment: PaymentRecord, postback: Postback, *, now: datetime, event: WebhookEvent | None,
        audit: AuditEvent,
    ) -> str:
        """Store a PostBack, move the payment's state, queue its event and audit row: all or nothing.

        Returns ``"accepted"``, ``"duplicate"`` (this PaymentGUID was stored before, for this payment:
        nothing written) or ``"conflict"`` (the PaymentGUID belongs to another payment: nothing written).
        """
        params = (
            postback.payment_guid, payment.payment_id, to_us(now), int(postback.approved),
            _text(postback.amount), _text(postback.convenience_fee), _maybe_us(postback.paid_at),
            postback.invoice_number, postback.payment_type_id, postback.card_type, postback.message,
            postback.description, json.dumps(postback.customer, sort_keys=True), postback.remote_ip,
        )
        insert = (f"INSERT INTO payment_postbacks ({_POSTBACK_COLUMNS}) VALUES ({_values(_POSTBACK_COLUMNS)}) "  # noqa: S608
                  "ON CONFLICT DO NOTHING")
        with self._backend.transaction() as cur:
            if self._run(cur, insert, params).rowcount != 1:
                owner = self._run(cur, "SELECT payment_id FROM payment_postbacks WHERE payment_guid = ?",
                                  (postback.payment_guid,)).fetchone()
                return "duplicate" if owner and owner[0] == payment.payment_id else "conflict"
            state = APPROVED if postback.approved else DECLINED
            # Approved is final: a later decline (another attempt on the same page) does not undo it.
            self._run(cur, "UPDATE payments SET state = ?, updated_us = ? WHERE payment_id = ? AND state <> ?",
                      (state, to_us(now), payment.payment_id, APPROVED))
            if event is not None:
                self._insert_event(cur, event)
            self._run(cur, _RECORD_AUDIT, _audit_params(audit))
        return "accepted"

    def postbacks_for(self, payment_id: str) -> list[Postback]:
        query = f"SELECT {_POSTBACK_COLUMNS} FROM payment_postbacks WHERE payment_id = ? ORDER BY received_us"  # noqa: S608
        return [_postback(r) for r in self._rows(query, (payment_id,))]

    # --- the outbox -------------------------------------------------------------------------------
    def _insert_event(self, cur: Cursor, event: WebhookEvent) -> None:
        params = (
            event.event_id, event.payment_id, event.biller, event.body, event.state, event.attempts,
            to_us(event.next_attempt_at), event.lease_owner, _maybe_us(event.lease_until), to_us(event.created_at),
            _maybe_us(event.delivered_at),
        )
        self._run(cur, f"INSERT INTO webhook_events ({_EVENT_COLUMNS}) VALUES ({_values(_EVENT_COLUMNS)})",  # noqa: S608
                  params)

    def claim_due_event(self, *, owner: str, now: datetime, lease_until: datetime) -> WebhookEvent | None:
        """Lease the oldest due event to ``owner``; None when nothing is due (or another node took it)."""
        due = ("SELECT event_id FROM webhook_events WHERE state = 'pending' AND next_attempt_us <= ? "
               "AND (lease_until_us IS NULL OR lease_until_us < ?) ORDER BY next_attempt_us LIMIT 1")
        # The outer condition is checked again on the row itself: of two nodes that chose the same
        # event, the second finds the lease taken and updates nothing.
        query = (f"UPDATE webhook_events SET lease_owner = ?, lease_until_us = ? WHERE event_id = ({due}) "  # noqa: S608
                 f"AND state = 'pending' AND (lease_until_us IS NULL OR lease_until_us < ?) RETURNING {_EVENT_COLUMNS}")
        params = (owner, to_us(lease_until), to_us(now), to_us(now), to_us(now))
        with self._backend.write() as cur:
            rows = self._run(cur, query, params).fetchall()
        return _event(rows[0]) if rows else None

    def finish_attempt(
        self, event: WebhookEvent, attempt: WebhookAttempt, *, owner: str, state: str, next_attempt_at: datetime,
    ) -> bool:
        """Record an attempt and release the lease; False (nothing written) when the lease was lost."""
        update = """UPDATE webhook_events SET state = ?, attempts = ?, next_attempt_us = ?, lease_owner = NULL,
            lease_until_us = NULL, delivered_us = ? WHERE event_id = ? AND lease_owner = ?"""
        delivered = to_us(attempt.at) if state == DELIVERED else None
        with self._backend.transaction() as cur:
            params = (state, attempt.attempt, to_us(next_attempt_at), delivered, event.event_id, owner)
            if self._run(cur, update, params).rowcount != 1:
                return False
            self._run(cur, f"INSERT INTO webhook_attempts ({_ATTEMPT_COLUMNS}) VALUES ({_values(_ATTEMPT_COLUMNS)})",  # noqa: S608
                      (attempt.event_id, attempt.attempt, to_us(attempt.at), attempt.url, attempt.status,
                       attempt.error, attempt.duration_ms))
        return True

    def retry_event(self, event_id: str, *, now: datetime) -> bool:
        """Due again now (an admin's retry button); a delivered event is not sent twice by this."""
        query = """UPDATE webhook_events SET state = 'pending', next_attempt_us = ?
            WHERE event_id = ? AND state <> 'delivered'"""
        return self._write(query, (to_us(now), event_id)) == 1

    def get_event(self, event_id: str) -> WebhookEvent | None:
        rows = self._rows(f"SELECT {_EVENT_COLUMNS} FROM webhook_events WHERE event_id = ?", (event_id,))  # noqa: S608
        return _event(rows[0]) if rows else None

    def events_for(self, payment_id: str) -> list[WebhookEvent]:
        query = f"SELECT {_EVENT_COLUMNS} FROM webhook_events WHERE payment_id = ? ORDER BY created_us"  # noqa: S608
        return [_event(r) for r in self._rows(query, (payment_id,))]

    def attempts_for(self, event_id: str) -> list[WebhookAttempt]:
        query = f"SELECT {_ATTEMPT_COLUMNS} FROM webhook_attempts WHERE event_id = ? ORDER BY attempt"  # noqa: S608
        return [_attempt(r) for r in self._rows(query, (event_id,))]

    # --- housekeeping -----------------------------------------------------------------------------
    def purge_idempotency(self, now: datetime) -> int:
        return self._write("DELETE FROM payment_idempotency WHERE expires_us < ?", (to_us(now),))


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)
