"""Delivering payment events to the partner's webhook: at least once, from the store, from any node.

Every node runs one delivery thread (kept running by the housekeeping job ``outbox_job``). It leases the
oldest due event in the store (bridge.payments.store: a conditional UPDATE, so one delivery of an
event is in flight across all nodes), POSTs it signed (bridge.payments.webhooks), records the
attempt and releases the lease. A 2xx is delivered; anything else is retried after
``retry_base`` * 2^(attempt-1) (jittered, at most ``retry_max``) until ``max_attempts``, then the
event waits for an admin's retry. A node that dies mid-delivery leaves a lease that lapses after
``webhook_timeout`` + 30 s; the event is then taken by whichever node looks next (a restart, or
another node), so nothing accepted is lost: the partner deduplicates on the event ``id``.
"""

from __future__ import annotations

import logging
import os
import random
import secrets
import socket
import threading
import time
from collections.abc import Callable
from datetime import timedelta

import httpx

from bridge.billers import biller_from_record
from bridge.errors import StoreUnavailable
from bridge.instance import Instance
from bridge.payments import webhooks
from bridge.payments.service import Payments, payments_of
from bridge.payments.store import DELIVERED, GAVE_UP, PENDING, WebhookAttempt, WebhookEvent

log = logging.getLogger("bridge.payments")
LEASE_MARGIN = 30  # seconds past the delivery timeout before another node may take the event
MAX_ERROR = 200
IDLE_EXIT = 30.0  # seconds without work before a node's delivery thread ends (housekeeping restarts it)
_jitter = random.SystemRandom()


def backoff(attempt: int, *, base: int, ceiling: int) -> float:
    """Seconds before retry ``attempt`` + 1: doubling from ``base``, capped, then 75-100 % of it (jitter)."""
    delay = min(float(ceiling), base * 2.0 ** (attempt - 1))
    return delay * _jitter.uniform(0.75, 1.0)


class Outbox:
    def __init__(self, payments: Payments, *, transport: httpx.BaseTransport | None = None) -> None:
        self.payments = payments
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        settings = payments.settings.payments
        self._http = httpx.Client(timeout=settings.webhook_timeout, transport=transport, follow_redirects=False,
                                  headers={"User-Agent": "saml-identity-bridge (webhooks)"})

    def close(self) -> None:
        self._http.close()

    def deliver_due(self, *, limit: int = 50) -> int:
        """Deliver (or try) up to ``limit`` due events; how many were attempted."""
        done = 0
        settings = self.payments.settings.payments
        while done < limit:
            now = self.payments.instance.clock()
            lease = now + timedelta(seconds=settings.webhook_timeout + LEASE_MARGIN)
            event = self.payments.store.claim_due_event(owner=self.owner, now=now, lease_until=lease)
            if event is None:
                return done
            self._attempt(event)
            done += 1
        return done

    def _attempt(self, event: WebhookEvent) -> None:
        instance = self.payments.instance
        record = instance.store.get_biller(event.biller)
        url = biller_from_record(record).payment_webhook if record else None
        started = time.perf_counter()
        status, error = self._post(url, event) if url else (None, "the biller has no payment webhook set")
        now = instance.clock()
        number = event.attempts + 1
        settings = self.payments.settings.payments
        if status is not None and 200 <= status < 300:
            state, next_at, outcome = DELIVERED, now, "delivered"
        elif number >= settings.max_attempts:
            state, next_at, outcome = GAVE_UP, now, "gave_up"
        else:
            wait = backoff(number, base=settings.retry_base, ceiling=settings.retry_max)
            state, next_at, outcome = PENDING, now + timedelta(seconds=wait), "failed"
        attempt = WebhookAttempt(
            event_id=event.event_id, attempt=number, at=now, url=url or "", status=status, error=error,
            duration_ms=int((time.perf_counter() - started) * 1000),
        )
        finished = self.payments.store.finish_attempt(event, attempt, owner=self.owner, state=state,
                                                      next_attempt_at=next_at)
        if not finished:
            log.warning("webhook %s: lease lost during delivery (another node may deliver it again)", event.event_id)
            return
        instance.metrics.webhook_deliveries.labels(outcome).inc()
        if outcome != "delivered":
            log.info("webhook %s attempt %d: %s", event.event_id, number, error or f"HTTP {status}")

    def _post(self, url: str, event: WebhookEvent) -> tuple[int | None, str | None]:
        body = event.body.encode()
        keys = webhooks.signing_keys(self.payments.settings.tickets.secrets, event.biller)
        headers = {
            "Content-Type": "application/json",
            webhooks.EVENT_ID_HEADER: event.event_id,
            webhooks.SIGNATURE_HEADER: webhooks.signature_header(body, keys, timestamp=int(time.time())),
        }
        try:
            with self._http.stream("POST", url, content=body, headers=headers) as response:
                status = response.status_code
        except httpx.TimeoutException:
            return None, "the webhook did not answer in time"
        except httpx.HTTPError as exc:
            return None, f"the webhook could not be reached ({type(exc).__name__})"[:MAX_ERROR]
        return status, None if 200 <= status < 300 else f"HTTP {status}"


# --- the worker: one per process ----------------------------------------------------------------------
_workers: dict[int, threading.Thread] = {}
_workers_lock = threading.Lock()


def outbox_of(instance: Instance) -> Outbox:
    outbox = instance.extras.get("outbox")
    if outbox is None:
        outbox = instance.extras["outbox"] = Outbox(payments_of(instance))
    return outbox  # type: ignore[no-any-return]


def _run(instance: Instance, outbox: Outbox) -> None:
    """Delivery passes every ``poll_interval`` (at once when a PostBack wakes it). The thread ends after
    ``IDLE_EXIT`` seconds with nothing to deliver, or when the store fails: the housekeeping job starts
    it again on its next pass (every few seconds), so a stopped app or a closed store leaves no thread."""
    wake = outbox.payments.wake
    interval = instance.settings.payments.poll_interval
    idle_since = time.monotonic()
    while time.monotonic() - idle_since < IDLE_EXIT:
        try:
            if outbox.deliver_due():
                idle_since = time.monotonic()
        except StoreUnavailable as exc:
            log.warning("webhook outbox: store unavailable: %s", exc.detail)
            return
        except Exception:
            log.exception("webhook outbox: delivery pass failed")
            return
        if wake.wait(interval):
            wake.clear()
            idle_since = time.monotonic()


def start_worker(instance: Instance) -> None:
    """This process's delivery thread for ``instance`` (idempotent)."""
    with _workers_lock:
        thread = _workers.get(id(instance))
        if thread is not None and thread.is_alive():
            return
        outbox = outbox_of(instance)
        thread = threading.Thread(target=_run, args=(instance, outbox), name="webhook-outbox", daemon=True)
        _workers[id(instance)] = thread
        thread.start()


_last_purge: dict[int, float] = {}


def outbox_job(instance: Instance) -> None:
    """Housekeeping (every few seconds on a serving node): keep the worker running, purge old idempotency keys."""
    start_worker(instance)
    now = time.monotonic()
    if now - _last_purge.get(id(instance), 0.0) >= instance.settings.store.purge_interval:
        _last_purge[id(instance)] = now
        payments_of(instance).store.purge_idempotency(instance.clock())


def payment_jobs() -> list[Callable[[Instance], None]]:
    return [outbox_job]
