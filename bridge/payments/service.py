"""Payments through the bridge: ask IC for a payment page, answer a partner's poll, run the outbox.

``payments_of(instance)`` is the one service per instance (its HTTP clients are pooled). A
payment's life: ``requested`` when IC has answered with its ``CloudPaymentURL``; then each
accepted PostBack (bridge.payments.postbacks) moves it to ``approved`` or ``declined``
(approved is final) and queues a webhook event (bridge.payments.outbox).

An ``Idempotency-Key`` is claimed in the store before IC is called, so of two identical calls
in flight one calls IC and the other waits for its answer; a failed call releases the key (a
retry may try again); a stale claim (its node died) is taken over after the longest an IC call
can take.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from bridge import audit
from bridge.billers import Biller, authorise, get_biller
from bridge.errors import BridgeError, NotFound, ValidationError
from bridge.instance import Instance
from bridge.invoicecloud import cpv2, credentials
from bridge.payments.models import PaymentCreate
from bridge.payments.store import REQUESTED, PaymentRecord, PaymentStore
from bridge.payments.webhooks import postback_json
from bridge.store.base import ApiKeyRecord, AuditEvent

POSTBACK_PATH = "/ic/postback"
PAYMENT_REQUESTED = "payment.requested"
PAYMENT_FAILED = "payment.failed"
_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}\Z")
_WAIT_STEP = 0.05


def _iso(value: Any) -> str:
    return value.isoformat().replace("+00:00", "Z")


def token_sha256(token: str) -> str:
    """The PostBack URL's token as stored: whoever reads the database cannot post to a payment's URL."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass
class Payments:
    instance: Instance
    client: cpv2.Cpv2Client
    store: PaymentStore
    wake: threading.Event = field(default_factory=threading.Event)  # set when an event is queued

    @property
    def settings(self):  # type: ignore[no-untyped-def]
        return self.instance.settings

    # --- POST /api/v1/payments --------------------------------------------------------------------
    def create(self, key: ApiKeyRecord, payment: PaymentCreate, *, idempotency_key: str | None,
               client_ip: str | None) -> tuple[dict[str, str], bool]:
        """The answer ``{"payment_id", "url", "created_at"}``, and whether it is a replay of an earlier call."""
        biller = get_biller(self.instance.store, payment.biller)
        authorise(key, biller.name)
        api_key = credentials.reveal(biller, credentials.API_KEY, credentials.secret_box(self.settings))
        if idempotency_key is None:
            return self._create(biller, payment, api_key, client_ip), False
        if not _IDEMPOTENCY_KEY.match(idempotency_key):
            raise ValidationError("Idempotency-Key", "1-255 printable characters without spaces")
        fingerprint = hashlib.sha256(json.dumps(payment.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()
        replay = self._claim(biller.name, idempotency_key, fingerprint)
        if replay is not None:
            return replay, True
        try:
            answer = self._create(biller, payment, api_key, client_ip)
        except BaseException:
            self.store.release_idempotency(biller.name, idempotency_key)
            raise
        self.store.finish_idempotency(biller.name, idempotency_key, answer)
        return answer, False

    def _longest_call(self) -> float:
        ic = self.settings.invoicecloud
        return 2 * ic.connect_timeout + ic.read_timeout + 5

    def _claim(self, biller: str, key: str, fingerprint: str) -> dict[str, Any] | None:
        """None when this call holds the key; the stored answer when an earlier call finished."""
        deadline = time.monotonic() + self._longest_call()
        while True:
            now = self.instance.clock()
            state, answer = self.store.claim_idempotency(
                biller, key, fingerprint, now=now,
                expires_at=now + timedelta(seconds=self.settings.payments.idempotency_ttl),
                stale_before=now - timedelta(seconds=self._longest_call()),
            )
            if state == "claimed":
                return None
            if state == "done":
                return answer
            if state == "mismatch":
                raise BridgeError("this Idempotency-Key was used with a different request body",
                                  code="idempotency_key_reused", status=422)
            if time.monotonic() > deadline:
                raise BridgeError("a request with this Idempotency-Key is still in progress; retry shortly",
                                  code="idempotency_in_progress", status=409)
            time.sleep(_WAIT_STEP)

    def _create(self, biller: Biller, payment: PaymentCreate, api_key: str, client_ip: str | None) -> dict[str, str]:
        payment_id = "pay_" + secrets.token_urlsafe(18)
        token = secrets.token_urlsafe(32)
        reference = payment.biller_reference or payment_id
        body = cpv2.request_body(
            payment,
            view_mode=payment.view_mode if payment.view_mode is not None else biller.view_mode,
            css_url=payment.css_url or biller.css_url, return_url=payment.return_url or biller.return_url,
            biller_reference=reference, postback_url=f"{self.settings.idp.base_url}{POSTBACK_PATH}/{token}",
        )
        try:
            url = self.client.create_payment_page(
                api_base=credentials.api_base(biller, self.settings), api_key=api_key, body=body,
            )
        except (cpv2.IcRejected, cpv2.IcUnavailable) as exc:
            audit.record(self.instance.store, AuditEvent(
                at=self.instance.clock(), event=PAYMENT_FAILED, outcome="error", biller=biller.name,
                client_ip=client_ip, detail=f"{exc.code}: {exc.detail}",
            ))
            raise
        now = self.instance.clock()
        record = PaymentRecord(
            payment_id=payment_id, biller=biller.name, biller_guid=biller.biller_guid, biller_reference=reference,
            token_sha256=token_sha256(token), state=REQUESTED, amount=payment.total,
            request=payment.model_dump(mode="json", exclude_none=True), url=url, created_at=now, updated_at=now,
        )
        self.store.add_payment(record, AuditEvent(
            at=now, event=PAYMENT_REQUESTED, outcome="ok", biller=biller.name, client_ip=client_ip,
            account=payment.customers[0].account_number, detail=f"{payment_id} amount={payment.total}",
        ))
        return {"payment_id": payment_id, "url": url, "created_at": _iso(now)}

    # --- GET /api/v1/payments/{id} ----------------------------------------------------------------
    def describe(self, key: ApiKeyRecord, payment_id: str) -> dict[str, Any]:
        record = self.store.get_payment(payment_id) if len(payment_id) <= 64 else None
        # Another biller's payment is "not found" too: its existence is not the caller's business.
        if record is None or record.biller != key.biller:
            raise NotFound("no such payment")
        return self.as_json(record)

    def as_json(self, record: PaymentRecord) -> dict[str, Any]:
        return payment_json(self.store, record)

    def close(self) -> None:
        self.client.close()


def payment_json(store: PaymentStore, record: PaymentRecord, *, attempts: bool = False) -> dict[str, Any]:
    """A payment as the API, the CLI and the console show it (``attempts``: each delivery attempt too)."""
    deliveries = []
    for event in store.events_for(record.payment_id):
        delivery: dict[str, Any] = {
            "event_id": event.event_id, "state": event.state, "attempts": event.attempts,
            "delivered_at": _iso(event.delivered_at) if event.delivered_at else None,
        }
        if attempts:
            delivery["next_attempt_at"] = _iso(event.next_attempt_at) if event.state == "pending" else None
            delivery["history"] = [
                {"attempt": a.attempt, "at": _iso(a.at), "url": a.url, "status": a.status, "error": a.error,
                 "duration_ms": a.duration_ms} for a in store.attempts_for(event.event_id)
            ]
        deliveries.append(delivery)
    return {
        "payment_id": record.payment_id, "biller": record.biller, "state": record.state,
        "amount": str(record.amount), "biller_reference": record.biller_reference, "url": record.url,
        "created_at": _iso(record.created_at), "updated_at": _iso(record.updated_at),
        "postbacks": [postback_json(p) for p in store.postbacks_for(record.payment_id)],
        "webhook_deliveries": deliveries,
    }


_lock = threading.Lock()


def payments_of(instance: Instance) -> Payments:
    """The instance's payment service, made on first use."""
    with _lock:
        service = instance.extras.get("payments")
        if service is None:
            ic = instance.settings.invoicecloud
            client = cpv2.Cpv2Client(connect_timeout=ic.connect_timeout, read_timeout=ic.read_timeout,
                                     observe=instance.metrics.observe_ic_call)
            service = Payments(instance=instance, client=client, store=PaymentStore(instance.store))  # type: ignore[arg-type]
            instance.extras["payments"] = service
        return service  # type: ignore[no-any-return]
