"""``icbridge admin hash``: make an argon2 hash for ``admin.token_hash`` or ``admin.password_hash``.

The secret is read from stdin (or prompted for on a terminal) and never echoed or logged; only
its hash goes into bridge.toml. With ``--new-token`` a random admin token is generated and
printed once with its hash.
"""

from __future__ import annotations

import argparse
import getpass
import secrets
import sys

from bridge.cli.common import add_json, emit
from bridge.config import hash_admin_secret
from bridge.errors import ValidationError


def register(sub: argparse._SubParsersAction) -> None:
    admin = sub.add_parser("admin", help="admin console credentials").add_subparsers(
        dest="admin_cmd", metavar="COMMAND", required=True)
    hashing = admin.add_parser("hash", help="print the argon2 hash of a password or token (read from stdin)")
    hashing.add_argument("--new-token", action="store_true", help="generate a random admin token and hash it")
    add_json(hashing)
    hashing.set_defaults(func=cmd_hash)


def _read_secret() -> str:
    if sys.stdin.isatty():
        return getpass.getpass("Password or token: ")
    return sys.stdin.readline().rstrip("\r\n")


def cmd_hash(args: argparse.Namespace) -> int:
    token = secrets.token_urlsafe(24) if args.new_token else None
    secret = token or _read_secret()
    if len(secret) < 12:
        raise ValidationError("secret", "use at least 12 characters")
    hashed = hash_admin_secret(secret)
    payload = {"hash": hashed, **({"token": token} if token else {})}
    lines = [f'token_hash = "{hashed}"' if token else f'password_hash = "{hashed}"  # under [admin]']
    if token:
        lines.insert(0, f"Admin token (shown once): {token}")
    emit(args, payload, "\n".join(lines))
    return 0
