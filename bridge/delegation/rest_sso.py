"""Launch glue for billers whose ``sso_method`` is ``rest`` (Cloud SSO Connect over REST).

A launch goes in two halves around the ticket's single-use mark:

1. :func:`prepare`, before the ticket is spent: everything that can be known to fail without asking
   IC (the biller's credentials present and decryptable, the wire format's needs met). A payer's
   link is never spent on a launch that cannot succeed.
2. :func:`run`, after: the registration decision tree (``bridge.invoicecloud.registration``) against
   IC with the biller's credentials, under a per-biller+account lease held in the shared store (one
   customer record however many nodes launch at once); one audit row naming the branch and each IC
   call's outcome; metrics per IC operation; and IC's Cloud SSO page with the token for the browser.

The token and the credentials exist in clear only in this request's memory: the audit row, the log
lines and the errors carry neither (the client scrubs the keys from IC's own error text).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

import httpx

from bridge import audit
from bridge.billers import Biller
from bridge.delegation.tickets import LaunchRequest
from bridge.errors import BridgeError, ICCredentialsRefused, ICRejected, ICUnavailable, ICUnexpectedAnswer
from bridge.instance import Instance
from bridge.invoicecloud import credentials
from bridge.invoicecloud.registration import Payer, SignedIn, Trail, sign_in
from bridge.invoicecloud.remote_auth import (
    CloudSsoPage,
    Credentials,
    RemoteAuthClient,
    WireFormat,
    cloud_sso_page,
    needed_credential,
)
from bridge.secrets_at_rest import SecretUnavailable
from bridge.store.base import AuditEvent

REST_SSO = "rest_sso"  # audit event and the ``flow`` label of REST launches
SERVICE = "remote_auth"  # the metrics' service label: remote_auth.<operation>
LEASE_PREFIX = "rest-sso"
Offload = Callable[..., Awaitable[Any]]


class LaunchBusy(BridgeError):
    """Another launch for the same account held the lease for longer than we may wait."""

    code = "launch_in_progress"
    status = 409


@dataclass(frozen=True, slots=True)
class RestLaunch:
    """A REST launch whose configuration is known good, ready to run once its ticket is consumed."""

    biller: Biller
    launch: LaunchRequest
    api_base: str
    wire: WireFormat
    credentials: Credentials

    def __repr__(self) -> str:
        return f"RestLaunch(biller={self.biller.name!r}, api_base={self.api_base!r})"


def prepare(instance: Instance, biller: Biller, launch: LaunchRequest) -> RestLaunch:
    """Open the biller's credentials and check the wire format has what it needs; raise before any ticket is spent."""
    wire = instance.settings.invoicecloud.remote_auth
    needed = needed_credential(wire)
    # reveal() raises CredentialMissing (409 ic_not_configured) or SecretUnavailable, naming the fix.
    secret = credentials.reveal(biller, f"ic_{needed}", credentials.secret_box(instance.settings))
    opened = Credentials(biller_guid=biller.biller_guid, **{needed: secret})
    return RestLaunch(biller=biller, launch=launch, api_base=credentials.api_base(biller, instance.settings),
                      wire=wire, credentials=opened)


def record_refusal(instance: Instance, consumed: AuditEvent, exc: BridgeError) -> None:
    """The audit row of a REST launch refused before its ticket was spent (the detail names the fix, no secret)."""
    instance.metrics.logins.labels(consumed.biller or "", REST_SSO, "refused").inc()
    audit.record(instance.store, replace(consumed, event=REST_SSO, outcome="refused",
                                         detail=f"ticket not used: {exc.code}: {exc.detail}"))


def _timeout(instance: Instance) -> httpx.Timeout:
    ic = instance.settings.invoicecloud
    return httpx.Timeout(ic.read_timeout, connect=ic.connect_timeout)


def lease_lifetime(instance: Instance) -> float:
    """Long enough for the look-ups, create and register at their worst (each up to a connect + read timeout)."""
    ic = instance.settings.invoicecloud
    return 4 * (ic.connect_timeout + ic.read_timeout) + 5


@contextlib.asynccontextmanager
async def store_lease(instance: Instance, offload: Offload, name: str, *, poll: float = 0.05) -> AsyncIterator[None]:
    """Hold ``name`` in the store (every node sees it) for the block; wait for a holder to finish first."""
    holder = instance.new_id()
    lifetime = lease_lifetime(instance)
    deadline = time.monotonic() + lifetime
    while True:
        now = instance.clock()
        taken = await offload(instance.store.acquire_lease, name, holder, now=now,
                              expires_at=now + timedelta(seconds=lifetime))
        if taken:
            break
        if time.monotonic() >= deadline:
            raise LaunchBusy("another sign-in for this account is still in progress; please try again in a minute")
        await asyncio.sleep(poll)
        poll = min(poll * 2, 0.5)
    try:
        yield
    finally:
        await offload(instance.store.release_lease, name, holder)


def _detail(trail: Trail, exc: BridgeError | None) -> str:
    """``branch=created; retrieve_users=ok ...; failed at register_accounts: ic_rejected; IC said: ...``."""
    parts = [f"branch={trail.branch or 'none'}", trail.summary()]
    if exc is not None:
        parts.append(f"failed at {getattr(exc, 'operation', None) or 'the bridge'}: {exc.code}")
        ic_message = getattr(exc, "ic_message", None)
        if ic_message:
            parts.append(f"IC said: {ic_message}")  # scrubbed of the biller's keys by the client
    return "; ".join(part for part in parts if part)


async def run(
    instance: Instance, offload: Offload, prepared: RestLaunch, *, identity_event: AuditEvent,
) -> CloudSsoPage:
    """The decision tree against IC, its audit row and metrics; IC's Cloud SSO page on success.

    ``identity_event`` is the launch's ``ticket.consumed`` row: the tree's row repeats who and where.
    """
    biller, launch = prepared.biller, prepared.launch
    metrics = instance.metrics

    def observe(operation: str, outcome: str, seconds: float) -> None:
        metrics.observe_ic_call(f"{SERVICE}.{operation}", outcome, seconds)

    payer = Payer(account_number=launch.account_number, email=launch.email,
                  login_type_id=biller.rest_login_type_id, css_url=biller.css_url)
    trail = Trail()
    lease = f"{LEASE_PREFIX}:{biller.name}:{launch.account_number}"
    failure: BridgeError | None = None
    signed: SignedIn | None = None
    try:
        async with httpx.AsyncClient(follow_redirects=False) as http:
            client = RemoteAuthClient(http, api_base=prepared.api_base, wire=prepared.wire,
                                      credentials=prepared.credentials, timeout=_timeout(instance), observe=observe)
            signed = await sign_in(client, payer, trail=trail, lock=lambda: store_lease(instance, offload, lease))
    except BridgeError as exc:
        failure = exc
        raise
    finally:
        outcome = "ok" if signed is not None else "error"
        event = replace(identity_event, event=REST_SSO, outcome=outcome, at=instance.clock(), flow=REST_SSO,
                        detail=_detail(trail, failure))
        metrics.logins.labels(biller.name, REST_SSO, outcome).inc()
        await offload(audit.record, instance.store, event)
    return cloud_sso_page(
        prepared.wire, prepared.api_base, signed.token, view_mode=launch.view_mode, redirect_id=launch.deep_link,
        css_url=biller.css_url, return_url=biller.return_url, return_site_name=biller.return_site_name,
    )


_PAYER_MESSAGES: dict[type[BridgeError], str] = {
    ICUnavailable: "Invoice Cloud is not answering right now, so we could not sign you in. "
                   "Please go back and try again in a few minutes.",
    ICCredentialsRefused: "Invoice Cloud did not accept this utility's connection, so we could not sign you in. "
                          "The utility's support team can see why; please try again later.",
    ICUnexpectedAnswer: "Invoice Cloud gave an answer we could not read, so we could not sign you in. "
                        "Please go back and try again later.",
    SecretUnavailable: "Signing in to Invoice Cloud is not fully set up for this utility yet, so your sign-in "
                       "link was not used. Please try again later.",
}


def payer_message(exc: BridgeError) -> str:
    """What the payer reads: what happened and what to do, in plain words; the details go to the audit trail."""
    if isinstance(exc, ICRejected) and exc.ic_message:
        return f"Invoice Cloud could not sign you in: {exc.ic_message}"
    for kind, message in _PAYER_MESSAGES.items():
        if isinstance(exc, kind):
            return message
    return exc.detail
