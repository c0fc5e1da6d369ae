"""Launch tickets: signed, short-lived, single-use hand-overs of a payer from a partner portal.

Two kinds, same rules (itsdangerous, SHA-256, ``max_age`` always, one salt
per purpose, consumed once in the store):

- bridge tickets, minted by ``POST /api/v1/logins`` with ``tickets.secrets``
  (newest last signs; older ones still verify during a rotation);
- partner tickets, signed by a partner without a back channel with its
  biller's partner secret, which is derived from ``tickets.secrets`` and the
  biller name, so no shared secret is stored at rest.

itsdangerous tokens are signed, not encrypted: they carry no secret, only
the launch request, which the partner already knows.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from bridge import audit
from bridge.delegation.tokens import TimedTokens, TokenError, TokenExpired
from bridge.errors import TicketError, TicketReplayed
from bridge.store.base import AuditEvent, Store

BRIDGE_SALT = "bridge.launch-ticket.v1"
PARTNER_SALT = "bridge.delegation.partner-ticket.v1"


@dataclass(frozen=True, slots=True)
class LaunchRequest:
    """What a partner asks for: who signs in, where they land, how."""

    biller: str
    email: str
    account_number: str
    login_type: str
    role: str | None
    deep_link: int
    view_mode: int
    flow: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _tokens(secrets: Sequence[str], salt: str) -> TimedTokens:
    if not secrets:
        raise TicketError("no ticket secret is configured")
    return TimedTokens(secrets, salt=salt)


def partner_secret(ticket_secret: str, biller: str) -> str:
    """The secret a partner signs its own tickets with, for one biller."""
    mac = hmac.new(ticket_secret.encode(), f"partner-ticket:{biller}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def mint(secrets: Sequence[str], launch: LaunchRequest, *, ticket_id: str, now: datetime) -> str:
    return _tokens(secrets, BRIDGE_SALT).dump({"jti": ticket_id, **launch.to_dict()}, now=now)


def mint_partner_ticket(secret: str, launch: dict[str, Any], *, ticket_id: str, now: datetime) -> str:
    """What a partner does on its side (also used by the Python partner helper and the tests)."""
    return _tokens([secret], PARTNER_SALT).dump({"jti": ticket_id, **launch}, now=now)


def _load(tokens: TimedTokens, token: str, *, max_age: int, now: datetime) -> dict[str, Any]:
    try:
        payload = tokens.load(token, max_age=max_age, now=now)
    except TokenExpired:
        raise TicketError("the launch link has expired; ask the portal for a new one") from None
    except TokenError:
        raise TicketError("the launch link is not valid; ask the portal for a new one") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("jti"), str):
        raise TicketError("the launch link is not valid; ask the portal for a new one")
    return payload


def peek_biller(token: str) -> str | None:
    """The biller a partner ticket claims, read before verification to pick the key. Trust nothing else."""
    data = TimedTokens(["unused"], salt=PARTNER_SALT).peek(token)
    biller = data.get("biller") if isinstance(data, dict) else None
    return biller if isinstance(biller, str) else None


@dataclass(frozen=True, slots=True)
class Ticket:
    """A ticket whose signature and age are good, not yet consumed: ``consume`` takes its single-use mark."""

    payload: dict[str, Any]
    namespace: str
    key: str
    expires_at: datetime


def verify(
    token: str,
    *,
    secrets: Sequence[str],
    max_age: int,
    now: datetime,
    partner: bool = False,
) -> Ticket:
    """Verify a ticket's signature and age; its payload is not yet field-validated."""
    if partner:
        biller = peek_biller(token)
        if biller is None:
            raise TicketError("the launch link is not valid; ask the portal for a new one")
        keys = [partner_secret(secret, biller) for secret in secrets]
        payload = _load(_tokens(keys, PARTNER_SALT), token, max_age=max_age, now=now)
    else:
        payload = _load(_tokens(secrets, BRIDGE_SALT), token, max_age=max_age, now=now)
    # The mark is kept a little past max_age so it outlives every moment the signature is still accepted.
    return Ticket(
        payload=payload,
        namespace="partner-ticket" if partner else "ticket",
        key=f"{payload.get('biller')}:{payload['jti']}",
        expires_at=now + timedelta(seconds=max_age + 120),
    )


def consume(store: Store, ticket: Ticket, consumed: AuditEvent) -> None:
    """Use the ticket exactly once, with its ``ticket.consumed`` audit row in the same transaction."""
    if not audit.record_once(store, ticket.namespace, ticket.key, ticket.expires_at, consumed):
        raise TicketReplayed("this launch link was already used; ask the portal for a new one")
