"""``icbridge link``: print a biller's IC redirect link (the same builder the launch uses)."""

from __future__ import annotations

import argparse

from bridge.billers import get_biller
from bridge.cli.common import add_config, add_json, emit, settings_from_args
from bridge.delegation.launches import ACCOUNT_RE
from bridge.errors import ValidationError
from bridge.invoicecloud.links import build_link, deep_link_page, resolve_view_mode
from bridge.store import open_store


def register(sub: argparse._SubParsersAction) -> None:
    link = sub.add_parser("link", help="print the Invoice Cloud redirect link for a biller and account")
    link.add_argument("--biller", required=True, metavar="NAME", help="the biller (see `icbridge billers list`)")
    link.add_argument("--account", required=True, metavar="ACCT", help="the payer's account number")
    link.add_argument("--view-mode", default=None, metavar="0|1", help="0 full page, 1 iFrame (default: the biller's)")
    link.add_argument("--deep-link", default=None, metavar="ID|NAME", help="e.g. 1 or bills (default: the biller's)")
    add_config(link)
    add_json(link)
    link.set_defaults(func=cmd_link)


def cmd_link(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    store = open_store(settings)
    try:
        biller = get_biller(store, args.biller)
    finally:
        store.close()
    if not ACCOUNT_RE.match(args.account):
        raise ValidationError("--account", "letters, digits, '.', '_' or '-' (1-50 characters)")
    view_mode = resolve_view_mode(args.view_mode if args.view_mode is not None else biller.view_mode,
                                  field="--view-mode")
    deep_link = biller.check_deep_link(args.deep_link if args.deep_link is not None else biller.deep_link,
                                       field="--deep-link")
    url = build_link(biller.link_base, biller.biller_guid, account=args.account, view_mode=view_mode,
                     deep_link=deep_link)
    emit(args, {"url": url, "biller": biller.name, "deep_link": deep_link, "page": deep_link_page(deep_link),
                "view_mode": view_mode}, url)
    return 0
