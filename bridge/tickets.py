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

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from bridge.errors import TicketError
from bridge.store.base import Store

BRIDGE_SALT = "bridge.launch-ticket.v1"
PARTNER_SALT = "bridge.partner-ticket.v1"
MAX_TOKEN_LENGTH = 4096


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


def _serializer(secrets: Sequence[str], salt: str) -> URLSafeTimedSerializer:
    if not secrets:
        raise TicketError("no ticket secret is configured")
    return URLSafeTimedSerializer(
        list(secrets), salt=salt, signer_kwargs={"digest_method": hashlib.sha256}
    )


def partner_secret(ticket_secret: str, biller: str) -> str:
    """The secret a partner signs its own tickets with, for one biller."""
    mac = hmac.new(ticket_secret.encode(), f"partner-ticket:{biller}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def mint(secrets: Sequence[str], launch: LaunchRequest, *, ticket_id: str, now: datetime) -> str:
    payload = {"jti": ticket_id, **launch.to_dict()}
    return _sign(_serializer(secrets, BRIDGE_SALT), payload, now)


def mint_partner_ticket(secret: str, launch: dict[str, Any], *, ticket_id: str, now: datetime) -> str:
    """What a partner does on its side (also used by the Python partner helper and the tests)."""
    return _sign(_serializer([secret], PARTNER_SALT), {"jti": ticket_id, **launch}, now)


def _sign(serializer: URLSafeTimedSerializer, payload: dict[str, Any], now: datetime) -> str:
    # itsdangerous reads the clock itself; pin it to the injected time.
    serializer_now = int(now.timestamp())
    signer = serializer.make_signer(serializer.salt)
    signer.get_timestamp = lambda: serializer_now  # type: ignore[method-assign]
    return signer.sign(serializer.dump_payload(payload)).decode()


def _load(serializer: URLSafeTimedSerializer, token: str, *, max_age: int, now: datetime) -> dict[str, Any]:
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise TicketError("the launch link is not valid; ask the portal for a new one")
    try:
        payload, signed_at = serializer.loads(token, max_age=10**9, return_timestamp=True)
    except SignatureExpired:
        raise TicketError("the launch link has expired; ask the portal for a new one") from None
    except BadSignature:
        raise TicketError("the launch link is not valid; ask the portal for a new one") from None
    age = (now - signed_at).total_seconds()
    if age > max_age or age < -60:
        raise TicketError("the launch link has expired; ask the portal for a new one")
    if not isinstance(payload, dict) or not isinstance(payload.get("jti"), str):
        raise TicketError("the launch link is not valid; ask the portal for a new one")
    return payload


def peek_biller(token: str) -> str | None:
    """The biller a partner ticket claims, read before verification to pick the key. Trust nothing else."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    try:
        _valid, data = _serializer(["unused"], PARTNER_SALT).loads_unsafe(token)
    except Exception:  # loads_unsafe may raise on undecodable junk despite its name
        return None
    biller = data.get("biller") if isinstance(data, dict) else None
    return biller if isinstance(biller, str) else None


def redeem(
    store: Store,
    token: str,
    *,
    secrets: Sequence[str],
    max_age: int,
    now: datetime,
    partner: bool = False,
) -> dict[str, Any]:
    """Verify and consume a ticket exactly once; return its payload (not yet field-validated)."""
    if partner:
        biller = peek_biller(token)
        if biller is None:
            raise TicketError("the launch link is not valid; ask the portal for a new one")
        keys = [partner_secret(secret, biller) for secret in secrets]
        payload = _load(_serializer(keys, PARTNER_SALT), token, max_age=max_age, now=now)
    else:
        payload = _load(_serializer(secrets, BRIDGE_SALT), token, max_age=max_age, now=now)
    # Kept a little past max_age so the mark outlives every moment the signature is still accepted.
    namespace = "partner-ticket" if partner else "ticket"
    key = f"{payload.get('biller')}:{payload['jti']}"
    if not store.use_once(namespace, key, now + timedelta(seconds=max_age + 120)):
        raise TicketError("this launch link was already used; ask the portal for a new one")
    return payload
