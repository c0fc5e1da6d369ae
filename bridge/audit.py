"""The audit trail's vocabulary: who was signed in where, and every refusal and key transition.

Records never hold a ticket, an assertion or a secret. Writing one is part
of issuing an assertion: when the store cannot take the row, no assertion
leaves (fail closed).
"""

from __future__ import annotations

import csv
import getpass
import io
import json
import logging
from collections.abc import Iterable, Iterator
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from bridge.identity import Identity
from bridge.logs import emit
from bridge.store.base import AuditEvent, Store

LOGIN_ISSUED = "login.issued"
LOGIN_REFUSED = "login.refused"
LAUNCH_CREATED = "launch.created"
TICKET_CONSUMED = "ticket.consumed"
TICKET_REFUSED = "ticket.refused"
LAUNCH_REFUSED = "launch.refused"  # a framed launch refused before its ticket was spent (docs/embedding.md)
KEY_TRANSITION = "key.transition"
BILLER_CHANGED = "biller.changed"
ADMIN_REAUTH = "admin.reauth"  # an admin's credentials checked again for a password-equivalent action
SESSIONS_REVOKED = "sessions.revoked"  # sign out everywhere (bridge.session_state)
log = logging.getLogger("bridge.audit")
# What the audit log line carries: never the email or account (personal data stays in the store).
_LOGGED = ("event", "outcome", "biller", "sp", "flow", "login_type", "client_ip", "actor", "detail")


def login_event(
    event: str,
    *,
    at: datetime,
    outcome: str,
    identity: Identity | None = None,
    biller: str | None = None,
    sp: str | None = None,
    flow: str | None = None,
    client_ip: str | None = None,
    detail: str | None = None,
) -> AuditEvent:
    return AuditEvent(
        at=at,
        event=event,
        outcome=outcome,
        biller=identity.biller if identity else biller,
        sp=sp,
        account=identity.account_number if identity else None,
        email=identity.email if identity else None,
        login_type=identity.login_type if identity else None,
        flow=flow,
        client_ip=client_ip,
        detail=detail,
    )


def record(store: Store, event: AuditEvent) -> None:
    store.record_audit(event)
    log_event(event)


def record_once(store: Store, namespace: str, key: str, expires_at: datetime, event: AuditEvent | None) -> bool:
    """Mark ``key`` used and record ``event`` in one transaction; False, and no row, when it was used before."""
    if not store.use_once(namespace, key, expires_at, audit=event):
        return False
    if event is not None:
        log_event(event)
    return True


def log_event(event: AuditEvent) -> None:
    """The event's log line, once its row is committed (record and record_once call it themselves)."""
    if not log.isEnabledFor(logging.INFO):
        return
    fields = {name: value for name in _LOGGED if (value := getattr(event, name)) is not None}
    emit(log, logging.INFO, "audit %s %s", event.event, event.outcome, extra={"audit": fields})


def os_actor() -> str:
    """Who ran a CLI command, for key and biller transitions."""
    try:
        return f"os:{getpass.getuser()}"
    except (KeyError, OSError):
        return "os:unknown"


FIELDS = (
    "at", "event", "outcome", "biller", "sp", "account", "email",
    "login_type", "flow", "client_ip", "actor", "detail",
)  # fmt: skip
TITLES = {  # what the admin console's audit table calls each field
    "at": "When (UTC)", "event": "Event", "outcome": "Outcome", "biller": "Biller", "sp": "Service provider",
    "account": "Account", "email": "Payer email", "login_type": "LoginType", "flow": "Flow",
    "client_ip": "Client IP", "actor": "Actor", "detail": "Detail",
}
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
EXPORT_FORMATS = ("jsonl", "csv")


def as_row(event: AuditEvent) -> dict[str, Any]:
    row = asdict(event)
    row["at"] = event.at.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return row


def csv_cell(value: Any) -> str:
    """Spreadsheets run a cell that starts with = + - @ as a formula (CSV injection): quote it."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def export_lines(events: Iterable[AuditEvent], fmt: str) -> Iterator[str]:
    """The audit trail as JSON lines or CSV (header first), streamed one record at a time."""
    if fmt == "jsonl":
        for event in events:
            yield json.dumps(as_row(event), sort_keys=True) + "\n"
        return
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(FIELDS)
    for event in events:
        row = as_row(event)
        writer.writerow([csv_cell(row[name]) for name in FIELDS])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    yield buffer.getvalue()
