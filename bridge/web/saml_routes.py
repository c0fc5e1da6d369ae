"""SAML endpoints: the IdP metadata and the SSO service (HTTP-Redirect and HTTP-POST bindings)."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from bridge import audit
from bridge.billers import Biller, biller_from_record
from bridge.delegation.launches import PendingRequest
from bridge.delegation.sessions import Session
from bridge.errors import BridgeError, NotFound, PermissionDenied
from bridge.idp import METADATA_PATH, SLO_PATH, SSO_PATH, Incoming
from bridge.instance import Instance
from bridge.saml.assertions import STATUS_NO_PASSIVE
from bridge.store.base import MetadataFetch
from bridge.web.offload import in_thread
from bridge.web.responses import (
    clear_session_cookie,
    client_ip,
    current_session,
    end_session,
    saml_post_page,
    set_session_cookie,
)

METADATA_TYPE = "application/samlmetadata+xml"


async def metadata(request: Request) -> Response:
    instance: Instance = request.app.state.instance
    document = instance.idp.metadata()
    instance.metrics.metadata_fetches.inc()
    fetch = MetadataFetch(
        at=instance.clock(), client_ip=client_ip(request), user_agent=request.headers.get("user-agent", "")[:200],
        kids=document.kids,
    )
    if instance.fetch_log.is_news(fetch):
        await in_thread(request, instance.fetch_log.write, fetch)  # on record before the client has the keys
    else:
        instance.fetch_log.add(fetch)
    headers = {"ETag": document.etag, "Cache-Control": f"public, max-age={min(document.cache_seconds, 3600)}"}
    if request.headers.get("if-none-match") == document.etag:
        return Response(status_code=304, headers=headers)
    return Response(document.body, media_type=METADATA_TYPE, headers=headers)


def _billers_for_sp(instance: Instance, sp_entity_id: str) -> list[Biller]:
    return [biller_from_record(r) for r in instance.store.list_billers() if r.sp_entity_id == sp_entity_id]


def _session_biller(instance: Instance, session: Session) -> Biller | None:
    record = instance.store.get_biller(session.identity.biller)
    return biller_from_record(record) if record else None


def _answer(request: Request, instance: Instance, incoming: Incoming, session: Session | None) -> Response:
    if session is not None and not incoming.request.force_authn:
        biller = _session_biller(instance, session)
        if biller is None or biller.sp_entity_id != incoming.sp.entity_id:
            raise PermissionDenied(
                "your portal session is for another biller; open Invoice Cloud again from your portal"
            )
        outgoing = instance.idp.respond(
            incoming, session.identity, session_id=session.session_id, authn_instant=session.authn_instant,
            client_ip=client_ip(request),
        )
        instance.metrics.logins.labels(biller.name, "sp-initiated", "ok").inc()
        response = saml_post_page(request, outgoing, biller=biller)
        set_session_cookie(request, response, session)  # used: the idle timeout slides (never the absolute end)
        return response
    if incoming.request.is_passive:
        outgoing = instance.idp.status_response(incoming, second=STATUS_NO_PASSIVE)
        return saml_post_page(request, outgoing, biller=None)
    return _park(instance, incoming)


def _park(instance: Instance, incoming: Incoming) -> Response:
    """No session: keep the request server-side and send the payer to the partner's login page."""
    candidates = [b for b in _billers_for_sp(instance, incoming.sp.entity_id) if b.login_url]
    if len(candidates) != 1:
        raise NotFound(
            "you are not signed in to your portal: open Invoice Cloud from your portal's link to sign in"
        )
    biller = candidates[0]
    pending_id = instance.new_id()
    pending = PendingRequest(
        sp=incoming.sp.entity_id, acs_url=incoming.acs.location, request_id=incoming.request.id,
        relay_state=incoming.relay_state, nameid_format=incoming.request.nameid_format, biller=biller.name,
    )
    lifetime = instance.settings.session.pending_lifetime
    instance.idp.use(incoming)
    instance.store.put_pending(pending_id, pending.to_dict(), instance.clock() + timedelta(seconds=lifetime))
    separator = "&" if "?" in (biller.login_url or "") else "?"
    return RedirectResponse(f"{biller.login_url}{separator}{urlencode({'saml_pending': pending_id})}", 303)


async def _binding_input(request: Request) -> tuple[str | None, dict[str, str] | None]:
    """The raw query string (HTTP-Redirect) or the form fields (HTTP-POST) of a SAML request."""
    if request.method == "GET":
        return request.scope.get("query_string", b"").decode("latin-1"), None
    form = await request.form(max_files=0, max_fields=10)
    return None, {k: v for k, v in form.items() if isinstance(v, str)}


def _receive(instance: Instance, raw_query: str | None, fields: dict[str, str] | None) -> Incoming:
    if raw_query is not None:
        return instance.idp.receive_redirect(raw_query)
    return instance.idp.receive_post(fields or {})


def _sso(request: Request, raw_query: str | None, fields: dict[str, str] | None) -> Response:
    """Rate limit, receive and answer in one trip off the event loop (one thread hop per login)."""
    instance: Instance = request.app.state.instance
    ip = client_ip(request)
    instance.limiter.limit_sso_client(ip, instance.settings.limits.sso_per_minute_per_ip)
    try:
        incoming = _receive(instance, raw_query, fields)
        return _answer(request, instance, incoming, current_session(request))
    except BridgeError as exc:
        if exc.code != "store_unavailable":
            # Refusals (a replay included) are part of the audit trail; the detail is ours, never the sender's bytes.
            audit.record(instance.store, audit.login_event(
                audit.LOGIN_REFUSED, at=instance.clock(), outcome="refused", client_ip=ip,
                flow="sp-initiated", detail=f"{exc.code}: {exc.detail}"[:300]))
        raise


async def sso(request: Request) -> Response:
    instance: Instance = request.app.state.instance
    with instance.metrics.sso_latency.time():
        raw_query, fields = await _binding_input(request)
        return await in_thread(request, _sso, request, raw_query, fields)


async def slo(request: Request) -> Response:
    """SP-initiated Single Logout: end the bridge session and answer the SP with a signed LogoutResponse."""
    instance: Instance = request.app.state.instance
    raw_query, fields = await _binding_input(request)
    incoming = await in_thread(request, instance.idp.receive_logout, raw_query=raw_query, form=fields)
    outgoing = await in_thread(request, instance.idp.logout_response, incoming)
    response: Response = (
        RedirectResponse(outgoing, status_code=303) if isinstance(outgoing, str)
        else saml_post_page(request, outgoing, biller=None)
    )
    await in_thread(request, end_session, request)  # revoked in the store: a copied cookie is dead too
    clear_session_cookie(request, response)
    return response


routes = [
    Route(METADATA_PATH, metadata, methods=["GET"]),
    Route(SSO_PATH, sso, methods=["GET", "POST"]),
    Route(SLO_PATH, slo, methods=["GET", "POST"]),
]
