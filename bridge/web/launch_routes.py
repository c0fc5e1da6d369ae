"""The browser side of delegation: ``/launch`` (redeem a ticket, start the session) and ``/logout``."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any, NoReturn
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from bridge import audit
from bridge.billers import Biller, biller_from_record, get_biller
from bridge.delegation import rest_sso, tickets
from bridge.delegation.launches import (
    LAUNCH_PATH,
    PendingRequest,
    ic_link,
    identity_of,
    launch_relay_state,
    validate_launch,
)
from bridge.delegation.sessions import Session
from bridge.delegation.tickets import LaunchRequest
from bridge.endpoints import configured_identity, identity_at_biller
from bridge.errors import BridgeError, EmbeddingRefused, ICError, NotFound, TicketError, TicketReplayed
from bridge.instance import Instance
from bridge.secrets_at_rest import SecretUnavailable
from bridge.store.base import AuditEvent
from bridge.web import embedding
from bridge.web.api_input import parse_object
from bridge.web.api_routes import LoginBody
from bridge.web.offload import in_thread
from bridge.web.payer import message_page, remember_biller
from bridge.web.responses import (
    clear_session_cookie,
    client_ip,
    cloud_sso_response,
    end_session,
    launch_error_page,
    saml_post_page,
    set_session_cookie,
)

LAUNCH_FIELDS = ("email", "account_number", "role", "login_type", "deep_link", "view_mode", "flow", "biller")


def _launch_of(biller: Biller, payload: dict[str, Any], *, partner: bool) -> LaunchRequest:
    """Bridge tickets were validated when minted; a partner's own ticket is validated now, field by field."""
    if partner:
        body = parse_object({k: payload[k] for k in LAUNCH_FIELDS if k in payload}, LoginBody)
        return validate_launch(biller, body.launch_fields())
    try:
        return LaunchRequest(**{name: payload[name] for name in LaunchRequest.__dataclass_fields__})
    except (KeyError, TypeError):
        raise TicketError("the launch link is not valid; ask the portal for a new one") from None


def _refuse(instance: Instance, exc: TicketError | NotFound, *, now: datetime, ip: str | None) -> NoReturn:
    instance.metrics.tickets.labels("refused").inc()
    audit.record(instance.store, audit.login_event(audit.TICKET_REFUSED, at=now, outcome="refused",
                                                   client_ip=ip, detail=exc.detail))
    if isinstance(exc, TicketError):
        raise exc
    raise TicketError(exc.detail) from None


def _refuse_embedding(instance: Instance, exc: EmbeddingRefused, biller: Biller, *, now: datetime,
                      ip: str | None) -> NoReturn:
    """Audit a framed launch refused before its ticket was spent (nothing was signed, nothing consumed)."""
    audit.record(instance.store, audit.login_event(audit.LAUNCH_REFUSED, at=now, outcome="refused", biller=biller.name,
                                                   sp=biller.sp_entity_id, client_ip=ip,
                                                   detail=f"{exc.code}: {exc.advice}"[:300]))
    raise exc


def _decide_path(instance: Instance, request: Request, biller: Biller, launch: LaunchRequest,
                 ticket: tickets.Ticket, *, needs_session: bool) -> tuple[str, str] | Response:
    """(flow, path) for a launch that can succeed here, or the detection hop's redirect; raises when it cannot.

    Everything here happens before the ticket is consumed (bridge/web/embedding.py)."""
    settings = instance.settings
    embedding.check_framing(request, biller, bridge_origin=settings.idp.base_url)
    framed = embedding.is_framed(request)
    if not (needs_session and embedding.needs_cookie_check(request, flow=launch.flow)):
        return launch.flow, embedding.PATH_FRAMED if framed else embedding.PATH_TOP_LEVEL
    cookie = settings.session.cookie_name
    if not embedding.is_probing(request):
        return embedding.probe_redirect(request, launch_url=f"{settings.idp.base_url}{LAUNCH_PATH}",
                                        session_cookie=cookie, https=settings.idp.is_https,
                                        view_mode=launch.view_mode, lifetime=settings.tickets.lifetime,
                                        ticket_key=ticket.key)
    if embedding.cookie_came_back(request, session_cookie=cookie, ticket_key=ticket.key):
        return launch.flow, embedding.PATH_COOKIE_KEPT
    if biller.idp_fallback:
        return "idp-initiated", embedding.PATH_FALLBACK
    raise embedding.cookies_blocked(biller, bridge_host=urlsplit(settings.idp.base_url).netloc)


def _redeem(instance: Instance, request: Request) -> Response | tuple[rest_sso.RestLaunch, AuditEvent]:
    params = request.query_params
    partner = "partner_ticket" in params
    token = params.get("partner_ticket") if partner else params.get("ticket")
    now = instance.clock()
    ip = client_ip(request)
    try:
        ticket = tickets.verify(
            token or "", secrets=instance.settings.tickets.secrets, max_age=instance.settings.tickets.lifetime,
            now=now, partner=partner,
        )
        biller = get_biller(instance.store, str(ticket.payload.get("biller")))
    except (TicketError, NotFound) as exc:
        _refuse(instance, exc, now=now, ip=ip)
    remember_biller(request, biller)  # every page from here on shows the biller's name and way back
    launch = _launch_of(biller, ticket.payload, partner=partner)
    rest = biller.sso_method == "rest"
    pending_id = params.get("pending")
    try:  # a REST launch needs no bridge session, nor does one that resumes a parked request
        decided = _decide_path(instance, request, biller, launch, ticket, needs_session=not (rest or pending_id))
    except EmbeddingRefused as exc:
        _refuse_embedding(instance, exc, biller, now=now, ip=ip)
    if isinstance(decided, Response):
        return decided  # the detection hop: nothing consumed yet
    flow, path = decided
    relay = None if rest else launch_relay_state(instance.settings, biller, replace(launch, flow=flow))
    identity = identity_of(launch)
    consumed = audit.login_event(audit.TICKET_CONSUMED, at=now, outcome="ok", identity=identity,
                                 sp=biller.sp_entity_id, flow=rest_sso.REST_SSO if rest else flow, client_ip=ip,
                                 detail=f"path: {path}")
    prepared = None
    if rest:  # a REST launch that cannot succeed (no IC credentials) is refused before its ticket is spent
        try:
            prepared = rest_sso.prepare(instance, biller, launch)
        except SecretUnavailable as exc:
            rest_sso.record_refusal(instance, consumed, exc)
            return launch_error_page(request, biller, exc, message=rest_sso.payer_message(exc))
    try:
        tickets.consume(instance.store, ticket, consumed)  # one commit: the single-use mark and its audit row
    except TicketReplayed as exc:
        _refuse(instance, exc, now=now, ip=ip)
    instance.metrics.tickets.labels("consumed").inc()
    if prepared is not None:
        return prepared, consumed
    session = Session(session_id=instance.new_id(), identity=identity, authn_instant=now,
                      view_mode=launch.view_mode, deep_link=launch.deep_link)
    if pending_id:
        data = instance.store.take_pending(pending_id, now)
        pending = PendingRequest.from_dict(data) if data else None
        if pending is None or pending.biller != biller.name:
            raise BridgeError("this sign-in request has expired or belongs to another biller; start again",
                              code="pending_not_found")
        # Answered as the identity the request was sent to: the biller's own endpoints, or the shared ones.
        idp = identity_at_biller(instance.settings, biller) if pending.endpoints == biller.name else None
        outgoing = instance.idp.resume(pending, identity, session_id=session.session_id, authn_instant=now,
                                       client_ip=ip, idp=idp)
        response: Response = saml_post_page(request, outgoing, biller=biller)
        instance.metrics.logins.labels(biller.name, "sp-initiated", "ok").inc()
    elif flow == "idp-initiated":
        outgoing = instance.idp.unsolicited(biller.sp_entity_id, identity, relay_state=relay,
                                            session_id=session.session_id, authn_instant=now, client_ip=ip,
                                            idp=configured_identity(instance.settings, biller))
        response = saml_post_page(request, outgoing, biller=biller)
        instance.metrics.logins.labels(biller.name, "idp-initiated", "ok").inc()
    else:
        response = RedirectResponse(ic_link(biller, launch), status_code=303)
    instance.metrics.logins.labels(biller.name, flow, "launched").inc()
    set_session_cookie(request, response, session)
    return response


async def launch(request: Request) -> Response:
    instance: Instance = request.app.state.instance
    redeemed = await in_thread(request, _redeem, instance, request)
    if isinstance(redeemed, Response):
        return redeemed
    prepared, consumed = redeemed
    try:
        page = await rest_sso.run(instance, request.app.state.offload, prepared, identity_event=consumed)
    except (ICError, rest_sso.LaunchBusy) as exc:
        return launch_error_page(request, prepared.biller, exc, message=rest_sso.payer_message(exc))
    return cloud_sso_response(request, page, prepared.biller)


def _sign_out(instance: Instance, request: Request) -> Response:
    """End the session in the store (every copy of the cookie, on every node), then say so or go back."""
    session = end_session(request)
    record = instance.store.get_biller(session.identity.biller) if session is not None else None
    target = record.settings.get("return_url") if record else None
    remember_biller(request, biller_from_record(record) if record else None)
    response: Response
    if target:
        response = RedirectResponse(target, status_code=303)
    else:
        response = message_page(request, title="Signed out", message="You are signed out of the bridge.",
                                status=200)
    clear_session_cookie(request, response)
    return response


async def logout(request: Request) -> Response:
    return await in_thread(request, _sign_out, request.app.state.instance, request)


routes = [
    Route(LAUNCH_PATH, launch, methods=["GET"]),
    Route("/logout", logout, methods=["GET", "POST"]),
]
