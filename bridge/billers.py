"""Billers (tenants) and their partner API keys.

A biller's options live in the store (so every node and the admin console
agree); this module owns their validation and defaults. API keys are random
256-bit secrets shown once; only their SHA-256 is stored (a slow password
hash buys nothing for a key with that much entropy and would cost every API
call tens of milliseconds).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from bridge import audit
from bridge.config import IC_LINK_BASE
from bridge.errors import AuthenticationError, NotFound, PermissionDenied, ValidationError
from bridge.invoicecloud.links import DEEP_LINKS, resolve_deep_link, resolve_view_mode
from bridge.secrets_at_rest import Sealed
from bridge.store.base import ApiKeyRecord, AuditEvent, BillerRecord, Store
from bridge.urls import https_or_loopback

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}\Z")  # \Z: "$" would accept a trailing newline
API_KEY_PREFIX = "bk"
FLOWS = ("sp-initiated", "idp-initiated")
SIMULATOR_SP_PATH = "/simulator/metadata"  # the built-in IC simulator's entity ID, under the bridge's base URL
SIMULATOR_LINK_PATH = "/simulator/saml"  # and its stand-in for IC's redirect link
SSO_METHODS = ("saml", "rest")  # rest: Cloud SSO Connect over REST (bridge.delegation.rest_sso)
REST_DELIVERIES = ("post", "get")  # how the browser carries IC's RemoteAuthenticationToken
REST_LOGIN_TYPE_IDS = (1, 5)
IDP_ENDPOINTS = ("shared", "per-biller")  # named in bridge.endpoints, which builds on this module


@dataclass(frozen=True, slots=True)
class Biller:
    name: str
    biller_guid: str
    sp_entity_id: str
    link_base: str = IC_LINK_BASE
    view_mode: int = 1
    deep_link: int = 1
    allowed_deep_links: tuple[int, ...] = tuple(DEEP_LINKS)
    allow_unknown_deep_links: bool = False
    login_types: dict[str, str] = field(default_factory=lambda: {"owner": "1", "default": "1"})
    flow: str = "sp-initiated"
    # IC accepts unsolicited Responses for this biller: a framed SP-initiated launch whose cookie the browser
    # blocks falls back to IdP-initiated SSO instead of failing (bridge/web/embedding.py, docs/embedding.md).
    idp_fallback: bool = False
    portal_origins: tuple[str, ...] = ()
    login_url: str | None = None  # where to send a payer whose AuthnRequest arrives with no session
    return_url: str | None = None
    return_site_name: str | None = None
    css_url: str | None = None
    # IC's web services (bridge.invoicecloud.credentials): secrets sealed at rest, never in clear here.
    ic_api_key: Sealed | None = None
    ic_web_service_key: Sealed | None = None
    ic_api_base: str | None = None  # overrides [invoicecloud] api_base (the simulator, tests)
    payment_webhook: str | None = None  # where accepted PostBacks are delivered (bridge.payments)
    sso_method: str = "saml"
    rest_login_type_id: int = 1  # the LoginTypeID registered over REST: always 5 for one partner, 1 for others
    # An auto-POST form keeps the token out of URLs (logs, Referer); "get" only where IC requires it.
    rest_delivery: str = "post"
    # Which IdP endpoints IC was given (bridge.endpoints): "shared" or "per-biller" (/saml/b/<name>/...).
    idp_endpoints: str = "shared"
    idp_entity_id: str | None = None  # its own IdP entity ID (per-biller endpoints only); None: the deployment's

    def settings(self) -> dict[str, Any]:
        return {
            "link_base": self.link_base,
            "view_mode": self.view_mode,
            "deep_link": self.deep_link,
            "allowed_deep_links": list(self.allowed_deep_links),
            "allow_unknown_deep_links": self.allow_unknown_deep_links,
            "login_types": dict(self.login_types),
            "flow": self.flow,
            "idp_fallback": self.idp_fallback,
            "portal_origins": list(self.portal_origins),
            "login_url": self.login_url,
            "return_url": self.return_url,
            "return_site_name": self.return_site_name,
            "css_url": self.css_url,
            "ic_api_key": self.ic_api_key.to_json() if self.ic_api_key else None,
            "ic_web_service_key": self.ic_web_service_key.to_json() if self.ic_web_service_key else None,
            "ic_api_base": self.ic_api_base,
            "payment_webhook": self.payment_webhook,
            "sso_method": self.sso_method,
            "rest_login_type_id": self.rest_login_type_id,
            "rest_delivery": self.rest_delivery,
            "idp_endpoints": self.idp_endpoints,
            "idp_entity_id": self.idp_entity_id,
        }

    def record(self, created_at: datetime | None = None) -> BillerRecord:
        return BillerRecord(
            name=self.name,
            biller_guid=self.biller_guid,
            sp_entity_id=self.sp_entity_id,
            settings=self.settings(),
            created_at=created_at,
        )

    def check_deep_link(self, value: int | str, field: str = "deep_link") -> int:
        number = resolve_deep_link(value, allow_unknown=self.allow_unknown_deep_links, field=field)
        if number in DEEP_LINKS and number not in self.allowed_deep_links:
            raise ValidationError(field, f"deep link {number} is not enabled for this biller")
        return number


def _origin(value: str) -> str:
    https_or_loopback(value)
    if value.count("/") != 2:
        raise ValueError(f"{value!r} must be an origin (scheme://host[:port]) with no path")
    return value


def validate_biller(biller: Biller) -> Biller:
    """Raise ValidationError naming the first wrong field; return the biller with normalised values."""
    if not NAME_RE.match(biller.name):
        raise ValidationError("name", "lower-case letters, digits and dashes, starting with a letter or digit")
    try:
        guid = str(uuid.UUID(biller.biller_guid))
    except ValueError:
        raise ValidationError("biller_guid", "must be a GUID such as c09d08fb-a969-4778-bb58-b46a8e9224e7") from None
    if not biller.sp_entity_id:
        raise ValidationError("sp", "the entity ID of a trusted service provider is required")
    checks: list[tuple[str, Any]] = [
        ("link_base", lambda: https_or_loopback(biller.link_base)),
        ("view_mode", lambda: resolve_view_mode(biller.view_mode)),
        ("portal_origins", lambda: [_origin(o) for o in biller.portal_origins]),
    ]
    for name in ("login_url", "return_url", "css_url", "ic_api_base", "payment_webhook"):
        value = getattr(biller, name)
        if value:
            checks.append((name, lambda value=value: https_or_loopback(value)))
    for name, check in checks:
        try:
            check()
        except ValueError as exc:
            raise ValidationError(name, str(exc)) from None
    for name, allowed in (("flow", FLOWS), ("sso_method", SSO_METHODS), ("rest_delivery", REST_DELIVERIES),
                          ("rest_login_type_id", REST_LOGIN_TYPE_IDS)):
        if getattr(biller, name) not in allowed:
            raise ValidationError(name, f"must be one of {', '.join(map(str, allowed))}")
    if not biller.login_types or any(not str(v).strip() for v in biller.login_types.values()):
        raise ValidationError("login_types", "map at least one role to a LoginType value, e.g. owner=1")
    if biller.idp_endpoints not in IDP_ENDPOINTS:
        raise ValidationError("idp_endpoints", f"must be one of {', '.join(IDP_ENDPOINTS)}")
    if biller.idp_entity_id is not None:
        if biller.idp_endpoints != "per-biller":
            raise ValidationError("idp_entity_id", "a biller's own entity ID needs its per-biller endpoints "
                                  "(idp_endpoints = per-biller): IC reads it from the biller's own metadata URL")
        if not urlsplit(biller.idp_entity_id).scheme or len(biller.idp_entity_id) > 1024:
            raise ValidationError("idp_entity_id", "must be an absolute URI of at most 1024 characters")
    if biller.return_site_name is not None and len(biller.return_site_name) > 100:
        raise ValidationError("return_site_name", "at most 100 characters")
    checked = replace(biller, biller_guid=guid, login_types={k: str(v) for k, v in biller.login_types.items()})
    checked.check_deep_link(biller.deep_link, field="deep_link")
    return checked


def default_link_base(base_url: str, sp_entity_id: str) -> str:
    """IC's production link base, unless the biller's SP is this bridge's IC simulator: then the simulator's.

    A biller bound to the simulator but sent to IC's real link would never reach the simulator.
    """
    if sp_entity_id == base_url + SIMULATOR_SP_PATH:
        return base_url + SIMULATOR_LINK_PATH
    return IC_LINK_BASE


def biller_from_record(record: BillerRecord) -> Biller:
    options = dict(record.settings)
    for name in ("allowed_deep_links", "portal_origins"):
        if name in options:
            options[name] = tuple(options[name])
    for name in ("ic_api_key", "ic_web_service_key"):
        if options.get(name) is not None:
            options[name] = Sealed.from_json(options[name])
    return Biller(name=record.name, biller_guid=record.biller_guid, sp_entity_id=record.sp_entity_id, **options)


def get_biller(store: Store, name: str) -> Biller:
    record = store.get_biller(name)
    if record is None:
        raise NotFound(f"no biller named {name!r}")
    return biller_from_record(record)


def get_biller_by_guid(store: Store, biller_guid: str) -> Biller:
    record = store.get_biller_by_guid(biller_guid.lower())
    if record is None:
        raise NotFound("no biller with that BillerGUID")
    return biller_from_record(record)


def changed_fields(old: Biller, new: Biller) -> list[str]:
    """The names of the fields that differ, for the ``biller.changed`` audit row."""
    return [name for name in Biller.__dataclass_fields__ if getattr(old, name) != getattr(new, name)]


def check_unique_guid(store: Store, biller: Biller) -> None:
    """One BillerGUID belongs to one biller (IC's SP tells billers apart by it)."""
    other = store.get_biller_by_guid(biller.biller_guid)
    if other is not None and other.name != biller.name:
        raise ValidationError("biller_guid", f"{biller.biller_guid} is already registered to biller {other.name!r}")


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def issue_api_key(store: Store, biller: str, *, now: datetime) -> str:
    """Create a key for ``biller`` and return it; it is never shown again."""
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    store.add_api_key(ApiKeyRecord(key_id=key_id, biller=biller, secret_hash=_hash(secret), created_at=now))
    return f"{API_KEY_PREFIX}_{key_id}_{secret}"


def remove_biller(store: Store, name: str, *, now: datetime, actor: str) -> int:
    """Revoke every API key of the biller, delete it and audit it; the number of keys revoked."""
    revoked = store.revoke_api_keys(name, now)
    if not store.delete_biller(name):
        raise NotFound(f"no biller named {name!r}")
    store.record_audit(AuditEvent(at=now, event=audit.BILLER_CHANGED, outcome="ok", biller=name, actor=actor,
                                  detail="removed"))
    return revoked


def rotate_api_key(store: Store, biller: str, *, now: datetime) -> tuple[str, int]:
    """Revoke every key of ``biller`` and issue a new one: (the new key, shown once; how many were revoked).

    The way back from a lost key, since only hashes are stored."""
    get_biller(store, biller)  # NotFound for an unknown name, before anything is revoked
    revoked = store.revoke_api_keys(biller, now)
    return issue_api_key(store, biller, now=now), revoked


def authenticate_api_key(store: Store, presented: str | None) -> ApiKeyRecord:
    """The key record for a bearer token; one error for every failure (no oracle)."""
    failure = AuthenticationError("missing or invalid API key (Authorization: Bearer <api key>)")
    if not presented:
        raise failure
    prefix, _, rest = presented.partition("_")
    key_id, _, secret = rest.partition("_")
    if prefix != API_KEY_PREFIX or not key_id or not secret or len(presented) > 200:
        raise failure
    record = store.get_api_key(key_id)
    if record is None or record.revoked_at is not None:
        raise failure
    if not hmac.compare_digest(record.secret_hash, _hash(secret)):
        raise failure
    return record


def authorise(record: ApiKeyRecord, biller: str) -> None:
    if record.biller != biller:
        raise PermissionDenied("this API key is not authorised for that biller")
