"""The ``bridge`` command line: a thin layer over the same functions the service uses.

Each feature owns a module here with ``register(subparsers)``, which adds its
commands and sets ``func`` to a handler ``(args) -> int``. Errors become one
line on stderr and exit code 1 (2 for usage errors, as argparse does).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from bridge.errors import BridgeError

COMMAND_MODULES = ("instance", "billers", "link", "keys", "db", "audit", "sp", "admin")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="icbridge", description="SAML identity bridge for Invoice Cloud")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"bridge.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"bridge.cli.{name}":
                continue
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except BridgeError as exc:
        for line in str(exc.detail).splitlines() or [exc.code]:
            print(f"bridge: error: {line}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
