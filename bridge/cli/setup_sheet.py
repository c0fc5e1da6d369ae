"""``icbridge setup-sheet BILLER``: what IC's admin enters for that biller (bridge.setup_sheet)."""

from __future__ import annotations

import argparse

from bridge.billers import get_biller
from bridge.cli.common import add_config, add_json, emit, settings_from_args
from bridge.setup_sheet import setup_sheet, sheet_text
from bridge.store import open_store


def register(sub: argparse._SubParsersAction) -> None:
    sheet = sub.add_parser("setup-sheet", help="print what IC's admin enters for a biller (Cloud SSO Connect)")
    sheet.add_argument("biller", metavar="BILLER", help="the biller's name (see `icbridge billers list`)")
    sheet.add_argument("--account", default=None, metavar="ACCT",
                       help="account number for the test redirect link (default IC's sample 101Invoice)")
    add_config(sheet)
    add_json(sheet)
    sheet.set_defaults(func=cmd_setup_sheet)


def cmd_setup_sheet(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    store = open_store(settings)
    try:
        store.migrate()
        biller = get_biller(store, args.biller)
        sheet = setup_sheet(settings, store, biller, **({"account": args.account} if args.account else {}))
    finally:
        store.close()
    emit(args, sheet, sheet_text(sheet))
    return 0
