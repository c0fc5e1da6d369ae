"""Partner login delegation: validating a launch request, minting its single-use URL, redeeming it.

The partner API and partner-signed tickets go through the same validation
(one source of truth for every field rule); redeeming a ticket yields the
payer's identity and where to send them next (IC's link, or an unsolicited
Response, or a pending AuthnRequest to resume).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from bridge.billers import FLOWS, Biller
from bridge.config import Settings
from bridge.delegation.tickets import LaunchRequest
from bridge.errors import ValidationError
from bridge.identity import Identity
from bridge.invoicecloud import relay_state
from bridge.invoicecloud.links import build_link, resolve_login_type, resolve_view_mode

LAUNCH_PATH = "/launch"
# RFC 5321 limits, and a conservative syntax: IC provisions accounts from this value.
EMAIL_RE = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                      r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+\Z")
# \Z, not $: "$" also matches before a trailing newline, which would let "101Invoice\n" through.
ACCOUNT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,49}\Z")
KNOWN_FIELDS = frozenset(
    {"biller", "email", "account_number", "role", "login_type", "deep_link", "view_mode", "flow"}
)


def _string(body: Mapping[str, Any], name: str) -> str:
    value = body.get(name)
    if value is None or value == "":
        raise ValidationError(name, "required")
    if not isinstance(value, str):
        raise ValidationError(name, "must be a string")
    return value


def validate_launch(biller: Biller, body: Mapping[str, Any]) -> LaunchRequest:
    """Field-by-field validation of a launch request against the biller's settings."""
    unknown = set(body) - KNOWN_FIELDS
    if unknown:
        raise ValidationError(sorted(unknown)[0], "unknown field")
    email = _string(body, "email")
    if len(email) > 254 or not EMAIL_RE.match(email):
        raise ValidationError("email", "not a valid email address")
    account = _string(body, "account_number")
    if not ACCOUNT_RE.match(account):
        raise ValidationError(
            "account_number", "1-50 characters: letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    role = body.get("role")
    if role is not None and not isinstance(role, str):
        raise ValidationError("role", "must be a string")
    login_type = body.get("login_type")
    if login_type is not None and not isinstance(login_type, (int, str)):
        raise ValidationError("login_type", "must be a number or a string")
    role, login_value = resolve_login_type(biller.login_types, role=role, login_type=login_type)
    deep_link = biller.check_deep_link(body.get("deep_link", biller.deep_link))
    view_mode = resolve_view_mode(body.get("view_mode", biller.view_mode))
    flow = body.get("flow", biller.flow)
    if flow not in FLOWS:
        raise ValidationError("flow", f"must be one of {', '.join(FLOWS)}")
    return LaunchRequest(
        biller=biller.name,
        email=email,
        account_number=account,
        login_type=login_value,
        role=role,
        deep_link=deep_link,
        view_mode=view_mode,
        flow=flow,
    )


def identity_of(launch: LaunchRequest) -> Identity:
    return Identity(
        email=launch.email,
        account_number=launch.account_number,
        login_type=launch.login_type,
        biller=launch.biller,
        role=launch.role,
    )


def launch_url(base_url: str, ticket: str, *, partner: bool = False, pending: str | None = None) -> str:
    params = {"partner_ticket" if partner else "ticket": ticket}
    if pending:
        params["pending"] = pending
    return f"{base_url}{LAUNCH_PATH}?{urlencode(params)}"


def expires_at(now: datetime, lifetime: int) -> datetime:
    return now + timedelta(seconds=lifetime)


def ic_link(biller: Biller, launch: LaunchRequest) -> str:
    return build_link(
        biller.link_base, biller.biller_guid,
        account=launch.account_number, view_mode=launch.view_mode, deep_link=launch.deep_link,
    )


def relay_state_for(template: str, biller: Biller, launch: LaunchRequest) -> str:
    """The RelayState of an IdP-initiated launch: by default IC's own query string for the deep link."""
    return relay_state.render(
        template, account=launch.account_number, view_mode=launch.view_mode, deep_link=launch.deep_link,
        biller_guid=biller.biller_guid, biller=biller.name,
    )


def launch_relay_state(settings: Settings, biller: Biller, launch: LaunchRequest) -> str | None:
    """What an IdP-initiated launch will send as RelayState (None for SP-initiated ones).

    Checked when the launch is created (and again before a partner's own ticket is spent): a RelayState
    over ``limits.max_relay_state_sent`` would make the launch fail after its ticket is used up.
    """
    if launch.flow != "idp-initiated":
        return None
    template = settings.sp_settings(biller.sp_entity_id).relay_state_template
    value = relay_state_for(template, biller, launch)
    limit = settings.limits.max_relay_state_sent
    if len(value.encode()) > limit:
        field = "account_number" if "account" in relay_state.placeholders_of(template) else "flow"
        raise ValidationError(field, f"the RelayState this launch would send ({template!r}) is "
                                     f"{len(value.encode())} bytes, over the {limit} allowed "
                                     "(limits.max_relay_state_sent); use a shorter account number or "
                                     "the sp-initiated flow")
    return value


def check_relay_state_fits(settings: Settings, biller: Biller) -> None:
    """When a biller whose launches default to IdP-initiated is saved: its SP's template, with this biller's
    name and GUID, leaves room for an account number."""
    if biller.flow != "idp-initiated":
        return
    template = settings.sp_settings(biller.sp_entity_id).relay_state_template
    try:
        relay_state.check_template(template.replace("{biller}", biller.name).replace("{biller_guid}",
                                                                                      biller.biller_guid),
                                   max_bytes=settings.limits.max_relay_state_sent)
    except ValueError as exc:
        raise ValidationError("relay_state_template", f"for SP {biller.sp_entity_id} and this biller: {exc}") from None


@dataclass(frozen=True, slots=True)
class PendingRequest:
    """An AuthnRequest that arrived with no session, kept server-side until the partner logs the payer in."""

    sp: str
    acs_url: str
    request_id: str
    relay_state: str | None
    nameid_format: str | None
    biller: str
    # The biller whose own endpoints (/saml/b/<biller>/) received it; None: the shared ones. The Response
    # speaks as the identity the request was sent to.
    endpoints: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "sp": self.sp, "acs_url": self.acs_url, "request_id": self.request_id,
            "relay_state": self.relay_state, "nameid_format": self.nameid_format, "biller": self.biller,
            "endpoints": self.endpoints,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PendingRequest:
        # A row missing a field resumes nothing: "" matches no SP, request or biller.
        return cls(sp=data.get("sp", ""), acs_url=data.get("acs_url", ""), request_id=data.get("request_id", ""),
                   relay_state=data.get("relay_state"), nameid_format=data.get("nameid_format"),
                   biller=data.get("biller", ""), endpoints=data.get("endpoints"))
