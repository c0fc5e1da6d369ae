"""The payment webhook's wire format: the event JSON and its ``Bridge-Signature`` header.

``Bridge-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>]`` where each ``v1`` is
HMAC-SHA256(key, ``"<t>." + raw body``) with the biller's partner secret (the one
``icbridge billers add`` prints; bridge.delegation.tickets.partner_secret). While
``tickets.secrets`` is being rotated there is one ``v1`` per secret, newest first: a partner
holding either secret verifies. The timestamp is signed so a captured delivery cannot be
replayed later than the partner's tolerance (five minutes in :func:`verify`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from bridge.delegation.tickets import partner_secret
from bridge.payments.store import PaymentRecord, Postback

SIGNATURE_HEADER = "Bridge-Signature"
EVENT_ID_HEADER = "Bridge-Event-Id"
TOLERANCE = 300


def signing_keys(ticket_secrets: Sequence[str], biller: str) -> list[str]:
    """The biller's partner secrets, newest first."""
    return [partner_secret(secret, biller) for secret in reversed(ticket_secrets)]


def _mac(key: str, timestamp: int, body: bytes) -> str:
    return hmac.new(key.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signature_header(body: bytes, keys: Sequence[str], *, timestamp: int) -> str:
    return ",".join([f"t={timestamp}", *(f"v1={_mac(key, timestamp, body)}" for key in keys)])


def verify(header: str, body: bytes, key: str, *, now: int, tolerance: int = TOLERANCE) -> bool:
    """What a partner's handler does (in Python; docs/payments.md has it in other words)."""
    parts = [item.partition("=") for item in header.split(",")]
    stamps = [value for name, _, value in parts if name.strip() == "t"]
    macs = [value.strip() for name, _, value in parts if name.strip() == "v1"]
    if len(stamps) != 1 or not stamps[0].strip().isdigit():
        return False
    timestamp = int(stamps[0])
    if abs(now - timestamp) > tolerance:
        return False
    expected = _mac(key, timestamp, body)
    return any(hmac.compare_digest(expected, mac) for mac in macs)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _money(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def postback_json(postback: Postback) -> dict[str, Any]:
    """A PostBack in the API's snake_case (also in ``GET /api/v1/payments/{id}``). Amounts are strings."""
    return {
        "payment_guid": postback.payment_guid,
        "approved": postback.approved,
        "amount": _money(postback.amount),
        "convenience_fee": _money(postback.convenience_fee),
        "paid_at": _iso(postback.paid_at),
        "received_at": _iso(postback.received_at),
        "invoice_number": postback.invoice_number,
        "payment_type_id": postback.payment_type_id,
        "card_type": postback.card_type,
        "message": postback.message,
        "description": postback.description,
        "customer": dict(postback.customer),
    }


def event_body(event_id: str, payment: PaymentRecord, postback: Postback, *, state: str, at: datetime) -> str:
    """The JSON the partner receives for one accepted PostBack (compact, stable key order)."""
    event = {
        "id": event_id,
        "type": f"payment.{'approved' if postback.approved else 'declined'}",
        "created_at": _iso(at),
        "payment_id": payment.payment_id,
        "biller": payment.biller,
        "biller_reference": payment.biller_reference,
        "state": state,
        "postback": postback_json(postback),
    }
    return json.dumps(event, sort_keys=True, separators=(",", ":"))
