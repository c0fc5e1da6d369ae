"""``icbridge db upgrade`` and ``icbridge db status``: the store's schema version and its migrations."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager

from bridge.cli.common import add_config, add_json, emit, settings_from_args
from bridge.config import Settings
from bridge.errors import StoreUnavailable
from bridge.store import SqlStore, display_url, open_store


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    db = subparsers.add_parser("db", help="the store's schema")
    commands = db.add_subparsers(dest="db_command", metavar="COMMAND", required=True)
    upgrade = commands.add_parser("upgrade", help="apply pending migrations and print the schema version")
    status = commands.add_parser("status", help="print the schema version and any pending migrations")
    for parser, handler in ((upgrade, _upgrade), (status, _status)):
        add_config(parser)
        add_json(parser)
        parser.set_defaults(func=handler)


@contextmanager
def opened_store(settings: Settings) -> Iterator[SqlStore]:
    """The instance's store, closed afterwards. On the command line the driver's reason is shown too:
    the reader is the admin, who needs it (the service keeps it for the log)."""
    try:
        store = open_store(settings)
        try:
            yield store
        finally:
            store.close()
    except StoreUnavailable as exc:
        raise with_cause(exc) from exc.__cause__


def with_cause(exc: StoreUnavailable) -> StoreUnavailable:
    """The error with the driver's reason appended (for the admin at the command line; never a password:
    drivers name the host and the failure, not the connection string)."""
    cause = " ".join(str(exc.__cause__).split()) if exc.__cause__ else ""
    return exc if not cause or cause in exc.detail else StoreUnavailable(f"{exc.detail}: {cause}")


def _upgrade(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    with opened_store(settings) as store:
        before = store.schema_status()
        store.migrate()
        after = store.schema_status()
    applied = [name for name in before.pending if name not in after.pending]
    done = f"applied {', '.join(applied)}" if applied else "nothing to apply"
    payload = {"store": display_url(settings.store.url), "version": after.current, "applied": applied}
    emit(args, payload, f"schema version {after.current} ({done})")
    return 0


def _status(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    with opened_store(settings) as store:
        status = store.schema_status()
    payload = {
        "store": display_url(settings.store.url),
        "version": status.current,
        "latest": status.latest,
        "pending": list(status.pending),
    }
    if status.pending:
        text = f"schema version {status.current}; pending: {', '.join(status.pending)} (run `icbridge db upgrade`)"
    else:
        text = f"schema version {status.current} (up to date)"
    emit(args, payload, text)
    return 0
