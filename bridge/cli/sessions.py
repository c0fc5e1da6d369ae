"""``icbridge sessions revoke``: sign out everywhere from the command line.

The same as the admin console's Sessions page (bridge.session_state), for when the console itself
may be in the wrong hands: run it on the server after a suspected cookie theft (SECURITY.md).
"""

from __future__ import annotations

import argparse

from bridge import session_state
from bridge.billers import get_biller
from bridge.cli.common import add_config, add_json, emit, settings_from_args
from bridge.cli.db import opened_store
from bridge.clock import utcnow
from bridge.errors import ValidationError


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sessions = subparsers.add_parser("sessions", help="admin and payer sessions")
    commands = sessions.add_subparsers(dest="sessions_command", metavar="COMMAND", required=True)
    revoke = commands.add_parser("revoke", help="end sessions on every node (sign out everywhere)")
    add_config(revoke)
    revoke.add_argument("--admins", action="store_true", help="every admin console session")
    revoke.add_argument("--payers", action="store_true", help="every payer's bridge session")
    revoke.add_argument("--biller", metavar="NAME", help="with --payers: only the payer sessions of this biller")
    add_json(revoke)
    revoke.set_defaults(func=_revoke)


def _revoke(args: argparse.Namespace) -> int:
    if not (args.admins or args.payers):
        raise ValidationError("sessions", "say which: --admins, --payers, or both")
    if args.biller and not args.payers:
        raise ValidationError("biller", "only with --payers")
    settings = settings_from_args(args)
    with opened_store(settings) as store:
        biller = get_biller(store, args.biller).name if args.biller else None
        ended = session_state.sign_out_everywhere(store, settings, admins=args.admins, payers=args.payers,
                                                  now=utcnow(), actor="cli", biller=biller)
    emit(args, {"ended": ended}, f"Ended {' and '.join(ended)}.")
    return 0
