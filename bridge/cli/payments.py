"""``icbridge payments list|show|retry``: payments made through Cloud Payments V2, their PostBacks and webhooks."""

from __future__ import annotations

import argparse

from bridge.cli.common import add_config, add_json, emit, settings_from_args
from bridge.clock import utcnow
from bridge.errors import NotFound
from bridge.payments.service import payment_json
from bridge.payments.store import PaymentStore
from bridge.store import open_store


def register(sub: argparse._SubParsersAction) -> None:
    payments = sub.add_parser("payments", help="payments through IC's Cloud Payments V2").add_subparsers(
        dest="payments_cmd", required=True)
    listing = payments.add_parser("list", help="the newest payments, newest first")
    listing.add_argument("--biller", default=None, help="only this biller's payments")
    listing.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
    show = payments.add_parser("show", help="one payment with its PostBacks and webhook delivery attempts")
    show.add_argument("payment_id", help="a payment_id as the API answered it")
    retry = payments.add_parser("retry", help="deliver a payment's undelivered webhook events again, now")
    retry.add_argument("payment_id", help="a payment_id as the API answered it")
    for parser, func in ((listing, cmd_list), (show, cmd_show), (retry, cmd_retry)):
        add_config(parser)
        add_json(parser)
        parser.set_defaults(func=func)


def _with_store(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    return open_store(settings_from_args(args))


def cmd_list(args: argparse.Namespace) -> int:
    store = _with_store(args)
    try:
        records = PaymentStore(store).list_payments(biller=args.biller, limit=max(1, args.limit))
    finally:
        store.close()
    rows = [{"payment_id": r.payment_id, "biller": r.biller, "state": r.state, "amount": str(r.amount),
             "biller_reference": r.biller_reference, "created_at": r.created_at.isoformat()} for r in records]
    text = "\n".join(f"{r['created_at'][:19]}  {r['payment_id']:30} {r['biller']:16} {r['state']:9} "
                     f"{r['amount']:>12}  {r['biller_reference']}" for r in rows) or "no payments"
    emit(args, {"payments": rows}, text)
    return 0


def _found(store: PaymentStore, payment_id: str):  # type: ignore[no-untyped-def]
    record = store.get_payment(payment_id)
    if record is None:
        raise NotFound(f"no payment {payment_id!r}")
    return record


def cmd_show(args: argparse.Namespace) -> int:
    raw = _with_store(args)
    try:
        store = PaymentStore(raw)
        shown = payment_json(store, _found(store, args.payment_id), attempts=True)
    finally:
        raw.close()
    lines = [f"{shown['payment_id']}  biller {shown['biller']}  {shown['state']}  amount {shown['amount']}",
             f"reference {shown['biller_reference']}  created {shown['created_at']}", f"page {shown['url']}"]
    for postback in shown["postbacks"]:
        lines.append(f"PostBack {postback['payment_guid']}: {'approved' if postback['approved'] else 'declined'} "
                     f"{postback['amount']} ({postback['message'] or ''}) received {postback['received_at']}")
    for delivery in shown["webhook_deliveries"]:
        lines.append(f"webhook {delivery['event_id']}: {delivery['state']} after {delivery['attempts']} attempt(s)")
        lines += [f"  #{a['attempt']} {a['at']} {a['status'] or '-'} {a['error'] or 'ok'}" for a in delivery["history"]]
    emit(args, shown, "\n".join(lines))
    return 0


def cmd_retry(args: argparse.Namespace) -> int:
    raw = _with_store(args)
    try:
        store = PaymentStore(raw)
        _found(store, args.payment_id)
        retried = [e.event_id for e in store.events_for(args.payment_id)
                   if store.retry_event(e.event_id, now=utcnow())]
    finally:
        raw.close()
    emit(args, {"payment_id": args.payment_id, "retried": retried},
         f"{len(retried)} webhook event(s) of {args.payment_id} are due again now.")
    return 0
