"""Admin pages for payments: the requests made through Cloud Payments V2, IC's PostBacks (accepted and
refused), and the webhook deliveries with every attempt and a retry button.

Read-mostly: the only action, retrying a delivery, is safe to repeat (the partner deduplicates on
the event ID), so it needs no confirmation; it leaves an audit row naming the admin.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bridge import audit
from bridge.errors import NotFound
from bridge.instance import Instance
from bridge.payments.postbacks import POSTBACK_REFUSED
from bridge.payments.service import payment_json, payments_of
from bridge.payments.store import PaymentStore
from bridge.store.base import AuditEvent
from bridge.web.admin.actions import Result, act_then_redirect, taken_result
from bridge.web.admin.auth import admin_page
from bridge.web.admin.page import NAV, NavItem, admin_render
from bridge.web.offload import in_thread

PAGE = "/admin/payments"
LISTED = 100
REFUSALS_SHOWN = 20
NAV.append(NavItem("Payments", PAGE))


def _store(instance: Instance) -> PaymentStore:
    return payments_of(instance).store


def _overview(instance: Instance, biller: str | None) -> dict[str, Any]:
    store = _store(instance)
    payments = [payment_json(store, record) for record in store.list_payments(biller=biller, limit=LISTED)]
    refused = instance.store.audit_events(event=POSTBACK_REFUSED, limit=REFUSALS_SHOWN)
    return {"payments": payments, "refused": list(reversed(refused)), "biller": biller}


@admin_page
async def list_payments(request: Request) -> Response:
    instance: Instance = request.app.state.instance
    biller = request.query_params.get("biller") or None
    context = await in_thread(request, _overview, instance, biller)
    return admin_render(request, "admin/payments.html", title="Payments", **context)


def _detail(instance: Instance, payment_id: str) -> dict[str, Any]:
    store = _store(instance)
    record = store.get_payment(payment_id) if len(payment_id) <= 64 else None
    if record is None:
        raise NotFound(f"no payment {payment_id!r}")
    return {"payment": payment_json(store, record, attempts=True), "request_body": record.request}


@admin_page
async def show_payment(request: Request) -> Response:
    instance: Instance = request.app.state.instance
    context = await in_thread(request, _detail, instance, request.path_params["payment_id"])
    return admin_render(request, "admin/payment.html", title=f"Payment {request.path_params['payment_id']}",
                        result=await taken_result(request), **context)


@admin_page
async def retry_delivery(request: Request) -> Response:
    instance: Instance = request.app.state.instance
    payment_id = request.path_params["payment_id"]
    form = await request.form()
    event_id = str(form.get("event_id") or "")

    def act() -> tuple[str, Result]:
        store = _store(instance)
        event = store.get_event(event_id)
        if event is None or event.payment_id != payment_id:
            raise NotFound("no such webhook event for this payment")
        if not store.retry_event(event_id, now=instance.clock()):
            return f"{PAGE}/{payment_id}", Result(message=f"{event_id} was already delivered; nothing to retry.")
        audit.record(instance.store, AuditEvent(at=instance.clock(), event="payment.webhook.retry", outcome="ok",
                                                biller=event.biller, actor=request.state.admin.actor,
                                                detail=f"{payment_id}: {event_id}"))
        payments_of(instance).wake.set()
        return f"{PAGE}/{payment_id}", Result(message=f"Delivery of {event_id} is due again now.")

    return await act_then_redirect(request, act)


routes = [
    Route(PAGE, list_payments, methods=["GET"]),
    Route(PAGE + "/{payment_id}", show_payment, methods=["GET"]),
    Route(PAGE + "/{payment_id}/retry", retry_delivery, methods=["POST"]),
]
