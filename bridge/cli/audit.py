"""``icbridge audit tail`` and ``icbridge audit export``: read the audit trail from the command line.

Audit fields can carry text a partner sent (emails, account numbers), so the terminal
output escapes control characters and the CSV export defuses spreadsheet formulas.
Exports may hold personal data: a file written with ``--output`` is readable by its
owner only.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

from bridge.audit import FIELDS, as_row, export_lines
from bridge.cli.common import add_config, add_json, emit, settings_from_args
from bridge.cli.db import opened_store
from bridge.clock import utcnow
from bridge.config import parse_duration
from bridge.store import AuditEvent


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    audit = subparsers.add_parser("audit", help="read the audit trail")
    commands = audit.add_subparsers(dest="audit_command", metavar="COMMAND", required=True)

    tail = commands.add_parser("tail", help="the newest events, oldest first")
    _add_filters(tail)
    tail.add_argument("-n", "--lines", type=int, default=20, metavar="N", help="how many events (default 20)")
    add_json(tail)
    tail.set_defaults(func=_tail)

    export = commands.add_parser("export", help="every matching event, as JSON lines or CSV")
    _add_filters(export)
    export.add_argument("--format", choices=("jsonl", "csv"), default="jsonl",
                        help="JSON lines (default) or CSV with a header row")
    export.add_argument("--output", metavar="FILE", help="write here (mode 0600) instead of stdout")
    export.set_defaults(func=_export)


def _add_filters(parser: argparse.ArgumentParser) -> None:
    add_config(parser)
    parser.add_argument(
        "--since", type=parse_since, metavar="ISO|DURATION", help="an ISO 8601 time, or a duration ago (24h, 30m)"
    )
    parser.add_argument("--biller", metavar="NAME", help="only this biller's events")
    parser.add_argument("--event", metavar="EVENT",
                        help="only this event (login.issued) or family of events (login: login.issued, login.refused)")


def parse_since(value: str, *, now: datetime | None = None) -> datetime:
    """``24h``/``90m``/``3600`` (that long before now) or an ISO 8601 time (UTC when no offset is given)."""
    try:
        return (now or utcnow()) - timedelta(seconds=parse_duration(value))
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is neither an ISO 8601 time nor a duration like 24h") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _tail(args: argparse.Namespace) -> int:
    with opened_store(settings_from_args(args)) as store:
        events = store.audit_events(since=args.since, biller=args.biller, event=args.event, limit=max(args.lines, 0))
    rows = [as_row(event) for event in events]
    emit(args, {"count": len(rows), "events": rows}, "\n".join(_line(row) for row in rows) or "(no events)")
    return 0


def _line(row: dict[str, Any]) -> str:
    extra = " ".join(f"{name}={_printable(str(row[name]))}" for name in FIELDS[3:] if row[name] is not None)
    return f"{row['at']}  {_printable(row['event']):<18} {_printable(row['outcome']):<8} {extra}".rstrip()


def _printable(text: str) -> str:
    """Control characters shown escaped, so a crafted field cannot drive the admin's terminal."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _export(args: argparse.Namespace) -> int:
    with opened_store(settings_from_args(args)) as store, _output(args.output) as out:
        events = store.iter_audit(since=args.since, biller=args.biller, event=args.event)
        counted = _Counted(events)
        for chunk in export_lines(counted, args.format):
            out.write(chunk)
        count = counted.count
    if args.output:
        print(f"exported {count} event(s) to {args.output}")
    return 0


@contextmanager
def _output(path: str | None) -> Iterator[TextIO]:
    if path is None:
        yield sys.stdout
        return
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # an existing file keeps its mode through O_CREAT
    with open(fd, "w", encoding="utf-8", newline="") as out:
        yield out


class _Counted:
    """Counts the events an export consumed, for the closing line."""

    def __init__(self, events: Iterable[AuditEvent]) -> None:
        self._events = events
        self.count = 0

    def __iter__(self) -> Iterator[AuditEvent]:
        for event in self._events:
            self.count += 1
            yield event
