"""The ``icbridge`` command line: a thin layer over the same functions the service uses.

Each feature owns a module here with ``register(subparsers)``, which adds its
commands and sets ``func`` to a handler ``(args) -> int``. Errors become one
line on stderr and exit code 1 (2 for usage errors, as argparse does). A reader that goes away
(``icbridge audit export | head``) ends the command quietly, as it would end ``cat``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence

from bridge.errors import BridgeError

COMMAND_MODULES = (
    "instance", "billers", "setup_sheet", "link", "keys", "db", "audit", "sp", "admin", "payments", "sessions",
)


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
    # psycopg's pool logs each failed connection attempt as a warning; with no logging configured those
    # reach stderr as several lines beside our one error line.
    logging.getLogger("psycopg.pool").setLevel(logging.ERROR)
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code = int(args.func(args) or 0)
        sys.stdout.flush()  # inside the try: a closed pipe surfaces here, not at interpreter exit
        return code
    except BrokenPipeError:
        return _closed_pipe()
    except BridgeError as exc:
        for line in str(exc.detail).splitlines() or [exc.code]:
            print(f"icbridge: error: {line}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _closed_pipe() -> int:
    """stdout's reader is gone: point stdout at /dev/null so the exit flush cannot fail again (Python docs'
    recipe for SIGPIPE) and exit as a process killed by SIGPIPE would (128 + 13)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return 141


if __name__ == "__main__":
    sys.exit(main())
