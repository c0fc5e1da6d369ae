"""``bridge audit tail`` and ``bridge audit export``: read the audit trail from the command line.

Audit fields can carry text a partner sent (emails, account numbers), so the terminal
output escapes control characters and the CSV export defuses spreadsheet formulas.
Exports may hold personal data: a file written with ``--output`` is readable by its
owner only.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

from bridge.cli.common import add_config, add_json, emit, settings_from_args
from bridge.cli.db import opened_store
from bridge.clock import utcnow
from bridge.config import parse_duration
from bridge.store import AuditEvent

FIELDS = (
    "at", "event", "outcome", "biller", "sp", "account", "email",
    "login_type", "flow", "client_ip", "actor", "detail",
)  # fmt: skip
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


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
    export.add_argument("--format", choices=("jsonl", "csv"), default="jsonl")
    export.add_argument("--output", metavar="FILE", help="write here (mode 0600) instead of stdout")
    export.set_defaults(func=_export)


def _add_filters(parser: argparse.ArgumentParser) -> None:
    add_config(parser)
    parser.add_argument(
        "--since", type=parse_since, metavar="ISO|DURATION", help="an ISO 8601 time, or a duration ago (24h, 30m)"
    )
    parser.add_argument("--biller", metavar="NAME", help="only this biller's events")


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


def as_dict(event: AuditEvent) -> dict[str, Any]:
    row = asdict(event)
    row["at"] = event.at.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return row


def _tail(args: argparse.Namespace) -> int:
    with opened_store(settings_from_args(args)) as store:
        events = store.audit_events(since=args.since, biller=args.biller, limit=max(args.lines, 0))
    rows = [as_dict(event) for event in events]
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
        events = store.iter_audit(since=args.since, biller=args.biller)
        count = (_write_csv if args.format == "csv" else _write_jsonl)(out, events)
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


def _write_jsonl(out: TextIO, events: Iterable[AuditEvent]) -> int:
    count = 0
    for count, event in enumerate(events, 1):  # noqa: B007 - the last value is the count
        out.write(json.dumps(as_dict(event), sort_keys=True) + "\n")
    return count


def _write_csv(out: TextIO, events: Iterable[AuditEvent]) -> int:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(FIELDS)
    count = 0
    for count, event in enumerate(events, 1):  # noqa: B007 - the last value is the count
        row = as_dict(event)
        writer.writerow([_cell(row[name]) for name in FIELDS])
    return count


def _cell(value: Any) -> str:
    """Spreadsheets run a cell that starts with = + - @ as a formula (CSV injection): quote it."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text
