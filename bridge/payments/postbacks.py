"""Receiving IC's PostBack at ``/ic/postback/<token>``: the checks that stand in for the signature IC does not send.

1. The token must name a payment (the URL is unguessable and per payment; only its SHA-256 is
   stored). Unknown: 404, recorded.
2. ``BillerGUID`` and ``BillerReference`` must be the payment's own. Otherwise refused, recorded.
3. ``PaymentGUID`` is stored once: a duplicate is acknowledged (IC stops retrying) and changes
   nothing; the same PaymentGUID posted to another payment's URL is refused, recorded.

An accepted PostBack, the payment's new state, its webhook event and its audit row are written
in one transaction: once IC has its 200, the event will be delivered (bridge.payments.outbox).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import replace
from datetime import timedelta
from zoneinfo import ZoneInfo

from bridge import audit
from bridge.billers import Biller, biller_from_record
from bridge.errors import BridgeError, NotFound
from bridge.invoicecloud.postback import PostbackMalformed, parse
from bridge.payments import webhooks
from bridge.payments.service import Payments, token_sha256
from bridge.payments.store import APPROVED, DECLINED, PENDING, PaymentRecord, Postback, WebhookEvent
from bridge.store.base import AuditEvent

POSTBACK_ACCEPTED = "payment.postback"
POSTBACK_REFUSED = "payment.postback.refused"
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{20,100}\Z")


class PostbackMismatch(BridgeError):
    code = "postback_mismatch"
    status = 400


def _refuse(payments: Payments, exc: BridgeError, *, outcome: str, client_ip: str | None,
            payment: PaymentRecord | None = None) -> BridgeError:
    payments.instance.metrics.postbacks.labels(outcome).inc()
    audit.record(payments.instance.store, AuditEvent(
        at=payments.instance.clock(), event=POSTBACK_REFUSED, outcome="refused",
        biller=payment.biller if payment else None, client_ip=client_ip,
        detail=(f"{payment.payment_id}: " if payment else "") + exc.detail,
    ))
    return exc


def receive(payments: Payments, token: str, form: Mapping[str, str], *, client_ip: str | None) -> str:
    """``"accepted"`` or ``"duplicate"`` (both answered 200); raises for everything refused."""
    instance = payments.instance
    payment = payments.store.payment_by_token(token_sha256(token)) if _TOKEN.match(token) else None
    if payment is None:
        raise _refuse(payments, NotFound("no payment waits for a PostBack at this URL"), outcome="unknown",
                      client_ip=client_ip)
    zone = ZoneInfo(payments.settings.payments.postback_timezone)
    try:
        parsed = parse(form, zone=zone)
    except PostbackMalformed as exc:
        raise _refuse(payments, exc, outcome="refused", client_ip=client_ip, payment=payment) from None
    if parsed.biller_guid != payment.biller_guid.lower():
        raise _refuse(payments, PostbackMismatch("BillerGUID is not this payment's biller"), outcome="refused",
                      client_ip=client_ip, payment=payment)
    if parsed.biller_reference != payment.biller_reference:
        raise _refuse(payments, PostbackMismatch("BillerReference is not this payment's reference"),
                      outcome="refused", client_ip=client_ip, payment=payment)
    now = instance.clock()
    postback = parsed.postback
    state = APPROVED if postback.approved or payment.state == APPROVED else DECLINED
    event = _event(payments, payment, postback, state=state)
    accepted = AuditEvent(
        at=now, event=POSTBACK_ACCEPTED, outcome="ok", biller=payment.biller, client_ip=client_ip,
        detail=f"{payment.payment_id}: {'approved' if postback.approved else 'declined'} "
               f"PaymentGUID={postback.payment_guid} amount={postback.amount}",
    )
    outcome = payments.store.record_postback(payment, postback, now=now, event=event, audit=accepted)
    if outcome == "conflict":
        raise _refuse(payments, PostbackMismatch("this PaymentGUID belongs to another payment"),
                      outcome="refused", client_ip=client_ip, payment=payment)
    instance.metrics.postbacks.labels(outcome).inc()
    if event is not None and outcome == "accepted":
        payments.wake.set()
    return outcome


def _biller(payments: Payments, name: str) -> Biller | None:
    record = payments.instance.store.get_biller(name)
    return biller_from_record(record) if record else None


def _event(payments: Payments, payment: PaymentRecord, postback: Postback, *, state: str) -> WebhookEvent | None:
    """The outbox row for this PostBack, when the biller has a webhook (otherwise the partner polls)."""
    biller = _biller(payments, payment.biller)
    if biller is None or not biller.payment_webhook:
        return None
    now = payments.instance.clock()
    event_id = "evt_" + secrets.token_urlsafe(18)
    body = webhooks.event_body(event_id, payment, replace(postback, received_at=now), state=state, at=now)
    return WebhookEvent(
        event_id=event_id, payment_id=payment.payment_id, biller=payment.biller, body=body, state=PENDING,
        attempts=0, next_attempt_at=now - timedelta(microseconds=1), lease_owner=None, lease_until=None,
        created_at=now, delivered_at=None,
    )

