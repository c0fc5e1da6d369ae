"""Delivery of accepted PostBacks to the partner's webhook: signed, retried with backoff, never two in flight."""

from __future__ import annotations

import hashlib
import hmac
import shutil
import subprocess
import threading
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from store_backends import make_store

from bridge.clock import utcnow
from bridge.delegation.tickets import partner_secret
from bridge.payments.store import PENDING, PaymentRecord, PaymentStore, Postback, WebhookAttempt, WebhookEvent
from bridge.store.base import AuditEvent

from .conftest import LiveBridge, Webhook

VERIFIER = Path(__file__).with_name("verify_webhook.js")


def _paid(live: LiveBridge, **form: str) -> str:
    answer = live.create_payment(biller_reference="ORDER-9").json()
    assert live.pay(answer["url"], **form).status_code == 200
    return str(answer["payment_id"])


def _secret(live: LiveBridge) -> str:
    return partner_secret(live.instance.settings.tickets.secrets[-1], "demo")


def _later(live: LiveBridge, seconds: float) -> None:
    """Move the instance's clock forward (the outbox's retry times are read from it)."""
    start = utcnow()
    live.instance.clock = lambda: utcnow() - start + start + timedelta(seconds=seconds)  # type: ignore[method-assign]


def test_an_accepted_postback_is_delivered_with_its_event(live: LiveBridge, webhook: Webhook) -> None:
    live.set_webhook(webhook.url)
    payment_id = _paid(live)
    assert live.deliver() == 1
    (event,) = webhook.bodies()
    assert event["type"] == "payment.approved" and event["payment_id"] == payment_id
    assert event["biller"] == "demo" and event["biller_reference"] == "ORDER-9" and event["state"] == "approved"
    assert event["postback"]["amount"] == "42.50" and event["postback"]["approved"] is True
    assert event["id"].startswith("evt_")
    assert webhook.received[0]["headers"]["bridge-event-id"] == event["id"]
    assert live.payment(payment_id).json()["webhook_deliveries"][0]["state"] == "delivered"


def test_the_signature_verifies_with_an_independent_python_implementation(live: LiveBridge, webhook: Webhook) -> None:
    live.set_webhook(webhook.url)
    _paid(live)
    live.deliver()
    received = webhook.received[0]
    fields = dict(item.split("=", 1) for item in received["headers"]["bridge-signature"].split(","))
    expected = hmac.new(_secret(live).encode(), fields["t"].encode() + b"." + received["body"], hashlib.sha256)
    assert hmac.compare_digest(expected.hexdigest(), fields["v1"])


@pytest.mark.skipif(shutil.which("node") is None, reason="needs node (scripts/setup.sh installs it)")
def test_the_signature_verifies_in_node_and_a_tampered_body_does_not(
    live: LiveBridge, webhook: Webhook, tmp_path: Path,
) -> None:
    live.set_webhook(webhook.url)
    _paid(live)
    live.deliver()
    received = webhook.received[0]
    header = received["headers"]["bridge-signature"]
    body = tmp_path / "body.json"

    def node_says(content: bytes, secret: str) -> str:
        body.write_bytes(content)
        run = subprocess.run(["node", str(VERIFIER), header, str(body), secret], capture_output=True, text=True,
                             timeout=30, check=True)
        return run.stdout.strip()

    assert node_says(received["body"], _secret(live)) == "valid"
    assert node_says(received["body"].replace(b"42.50", b"4.25"), _secret(live)) == "invalid"
    assert node_says(received["body"], "another-billers-secret") == "invalid"


def test_a_failed_delivery_is_retried_after_a_backoff(live: LiveBridge, webhook: Webhook) -> None:
    live.set_webhook(webhook.url)
    payment_id = _paid(live)
    webhook.status = 500
    assert live.deliver() == 1
    assert live.deliver() == 0  # not due yet: retry_base is 5 s
    webhook.status = 200
    _later(live, 10)
    assert live.deliver() == 1
    store = PaymentStore(live.instance.store)  # type: ignore[arg-type]
    (event,) = store.events_for(payment_id)
    assert event.state == "delivered" and event.attempts == 2
    assert [(a.status, a.error) for a in store.attempts_for(event.event_id)] == [(500, "HTTP 500"), (200, None)]


def test_after_max_attempts_the_event_waits_for_an_admin_retry(live: LiveBridge, webhook: Webhook) -> None:
    live.set_webhook(webhook.url)
    payment_id = _paid(live)
    webhook.status = 503
    for step in range(3):  # max_attempts = 3 in the test configuration
        _later(live, 120 * step)
        assert live.deliver() == 1
    _later(live, 10_000)
    assert live.deliver() == 0
    store = PaymentStore(live.instance.store)  # type: ignore[arg-type]
    (event,) = store.events_for(payment_id)
    assert event.state == "gave_up"
    webhook.status = 200
    assert store.retry_event(event.event_id, now=live.instance.clock())
    assert live.deliver() == 1 and store.events_for(payment_id)[0].state == "delivered"


def test_an_unreachable_webhook_is_recorded_as_an_attempt(live: LiveBridge) -> None:
    from .conftest import free_port

    live.set_webhook(f"http://127.0.0.1:{free_port()}/hook")
    payment_id = _paid(live)
    live.deliver()
    store = PaymentStore(live.instance.store)  # type: ignore[arg-type]
    (attempt,) = store.attempts_for(store.events_for(payment_id)[0].event_id)
    assert attempt.status is None and "could not be reached" in (attempt.error or "")


def test_without_a_webhook_nothing_is_queued_and_the_partner_polls(live: LiveBridge) -> None:
    payment_id = _paid(live)
    assert live.deliver() == 0
    state = live.payment(payment_id).json()
    assert state["state"] == "approved" and len(state["postbacks"]) == 1 and state["webhook_deliveries"] == []


# --- the outbox's lease, on each store backend -------------------------------------------------------
def _queued(store: PaymentStore) -> WebhookEvent:
    now = utcnow()
    payment = PaymentRecord("pay_1", "demo", "g", "r", "t", "requested", Decimal("1.00"),
                            {}, "https://ic.test/p", now, now)
    store.add_payment(payment, AuditEvent(at=now, event="payment.requested", outcome="ok"))
    event = WebhookEvent("evt_1", "pay_1", "demo", "{}", PENDING, 0, now - timedelta(seconds=1), None, None, now,
                         None)
    postback = Postback("guid-1", True, None, None, None, None, None, None, None, None)
    assert store.record_postback(payment, postback, now=now, event=event,
                                 audit=AuditEvent(at=now, event="payment.postback", outcome="ok")) == "accepted"
    return event


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_of_many_nodes_claiming_at_once_exactly_one_holds_the_event(kind: str, tmp_path: Path) -> None:
    with make_store(kind, tmp_path) as raw:
        store = PaymentStore(raw)
        _queued(store)
        now = utcnow()
        claims: list[object] = []
        barrier = threading.Barrier(6)

        def node(name: str) -> None:
            barrier.wait()
            claims.append(store.claim_due_event(owner=name, now=now, lease_until=now + timedelta(seconds=60)))

        threads = [threading.Thread(target=node, args=(f"node-{i}",)) for i in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert len([c for c in claims if c is not None]) == 1


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_a_lapsed_lease_passes_to_another_node_and_fences_the_first(kind: str, tmp_path: Path) -> None:
    with make_store(kind, tmp_path) as raw:
        store = PaymentStore(raw)
        _queued(store)
        now = utcnow()
        held = store.claim_due_event(owner="a", now=now, lease_until=now + timedelta(seconds=40))
        assert held is not None
        assert store.claim_due_event(owner="b", now=now + timedelta(seconds=39), lease_until=now) is None
        taken = store.claim_due_event(owner="b", now=now + timedelta(seconds=41),
                                      lease_until=now + timedelta(seconds=90))
        assert taken is not None and taken.lease_owner == "b"
        attempt = WebhookAttempt("evt_1", 1, now, "https://p.test", 200, None, 5)
        assert not store.finish_attempt(held, attempt, owner="a", state="delivered", next_attempt_at=now)
        assert store.finish_attempt(replace(taken), attempt, owner="b", state="delivered", next_attempt_at=now)
