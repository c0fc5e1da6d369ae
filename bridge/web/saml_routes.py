"""SAML endpoints: the IdP metadata, the SSO service (HTTP-Redirect and HTTP-POST) and SLO.

Two sets, one behaviour (bridge.endpoints): the deployment's shared endpoints
(``/saml/metadata``, ``/saml/sso``, ``/saml/slo``) and each biller's own
(``/saml/b/<biller>/...``). At a biller's endpoints a request is answered only
for that biller; at the shared ones only when the requesting SP leaves no
doubt which biller it is for (``shared_candidates``), or when it is the
request that the session's own launch just started (once, within
``idp.request_max_age``).
"""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from bridge import audit
from bridge.billers import NAME_RE, Biller, get_biller
from bridge.delegation.launches import PendingRequest
from bridge.delegation.sessions import Session
from bridge.endpoints import BILLER_PREFIX, IdpIdentity, identity_at_biller, shared_candidates
from bridge.errors import BridgeError, NoSession, NotFound, PermissionDenied
from bridge.idp import METADATA_PATH, SLO_PATH, SSO_PATH, Incoming
from bridge.instance import Instance
from bridge.saml.assertions import STATUS_NO_PASSIVE
from bridge.store.base import AuditEvent, MetadataFetch
from bridge.store_cache import BillerSnapshot, read_billers
from bridge.web.offload import in_thread
from bridge.web.payer import message_page, remember_biller
from bridge.web.responses import (
    clear_session_cookie,
    client_ip,
    end_session,
    live_session,
    saml_post_page,
    set_session_cookie,
)

METADATA_TYPE = "application/samlmetadata+xml"
NOT_SIGNED_IN = "you are not signed in to your portal: open Invoice Cloud from your portal's link to sign in"
AMBIGUOUS = (
    "Invoice Cloud sent this sign-in to the bridge's shared address, which several billers use, so the bridge "
    "cannot tell which biller it is for and answers none of them. Open Invoice Cloud from your portal again; "
    "if this keeps happening, the biller's administrator gives Invoice Cloud the biller's own SSO URL "
    "(icbridge setup-sheet)."
)


def _endpoint_biller(request: Request) -> Biller:
    """The biller named in a ``/saml/b/<biller>/...`` path; one 404 page for a bad or unknown name."""
    name = request.path_params["biller"]
    if not NAME_RE.match(name):
        raise NotFound("no biller at this address")
    return get_biller(request.app.state.instance.store, name)


def _identity(request: Request) -> tuple[IdpIdentity, Biller | None]:
    instance: Instance = request.app.state.instance
    if "biller" not in request.path_params:
        return instance.idp.deployment, None
    biller = _endpoint_biller(request)
    return identity_at_biller(instance.settings, biller), biller


# --- metadata -----------------------------------------------------------------------------------

async def metadata(request: Request) -> Response:
    instance: Instance = request.app.state.instance
    # A biller's endpoints need a store read to find the biller: off the event loop; the shared ones do not.
    identity, _biller = (await in_thread(request, _identity, request) if "biller" in request.path_params
                         else (instance.idp.deployment, None))
    document = instance.idp.metadata(identity)
    instance.metrics.metadata_fetches.labels(identity.label).inc()
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


# --- answering an AuthnRequest --------------------------------------------------------------------
#
# The SSO step runs on the event loop: everything it does per login is CPU (inflate, parse, verify,
# build, sign, the page) except the durable commit, which goes to a worker thread. One thread does
# a login's work, so the GIL is not handed back and forth between the loop and a worker per login
# (issue 21's profile: that hand-off cost more than the thread hop's own code). What would block
# the loop goes off it: the commit, the store reads the process caches cannot vouch for, a due
# rate-limit write, and the rare answers that write (parking a request, refusals' audit rows).

STORE_READ = -1  # the version of a snapshot read from the store for one request


def _read_billers(instance: Instance) -> BillerSnapshot:
    """Every biller from the store (off the event loop), when the process cache cannot vouch for its copy."""
    return read_billers(instance.store, version=STORE_READ)


async def _billers(request: Request) -> BillerSnapshot:
    instance: Instance = request.app.state.instance
    snapshot = instance.store_cache.billers()  # None once its last poll is older than the stated bound
    return snapshot if snapshot is not None else await in_thread(request, _read_billers, instance)


async def _billers_knowing(request: Request, billers: BillerSnapshot, *, name: str | None = None,
                           sp: str | None = None) -> BillerSnapshot:
    """``billers``, or the store's when the cached copy lacks biller ``name`` or any biller on ``sp``.

    A biller added on another node or by the CLI is answered at once (a miss is never trusted);
    a removed or changed one stops being answered within the cache's bound (SECURITY.md).
    """
    missing = (name is not None and billers.get(name) is None) or (sp is not None and not billers.on_sp(sp))
    if not missing or billers.version == STORE_READ:
        return billers
    return await in_thread(request, _read_billers, request.app.state.instance)


def _identity_of(request: Request, billers: BillerSnapshot) -> tuple[IdpIdentity, Biller | None]:
    instance: Instance = request.app.state.instance
    if "biller" not in request.path_params:
        return instance.idp.deployment, None
    name = request.path_params["biller"]
    if not NAME_RE.match(name):
        raise NotFound("no biller at this address")
    biller = billers.get(name)
    if biller is None:
        raise NotFound(f"no biller named {name!r}")  # as bridge.billers.get_biller says it
    return identity_at_biller(instance.settings, biller), biller


async def _respond(request: Request, instance: Instance, incoming: Incoming, session: Session,
                   biller: Biller) -> Response:
    remember_biller(request, biller)
    steps = instance.steps
    t = steps.start()
    answer = instance.idp.answer(
        incoming, session.identity, session_id=session.session_id, authn_instant=session.authn_instant,
        client_ip=client_ip(request),
    )
    t = steps.lap("sso.build_and_sign", t)
    await instance.idp.commit_batched(answer, instance.writer)  # on disk before the page leaves (fail closed)
    t = steps.start()  # this thread ran other logins during the wait: not this one's CPU (the commit has its own)
    instance.metrics.logins.labels(biller.name, "sp-initiated", "ok").inc()
    response = saml_post_page(request, answer.outgoing, biller=biller)
    set_session_cookie(request, response, session)  # used: the idle timeout slides (never the absolute end)
    steps.lap("sso.page_and_cookie", t)
    return response


async def _no_passive(request: Request, instance: Instance, incoming: Incoming) -> Response:
    outgoing = await in_thread(request, instance.idp.status_response, incoming, second=STATUS_NO_PASSIVE)
    return saml_post_page(request, outgoing, biller=None)


def _launched_for_this_request(instance: Instance, session: Session) -> bool:
    """The first AuthnRequest at the shared endpoints within ``idp.request_max_age`` of the session's launch.

    A launch sends the payer to its biller's IC link and IC's AuthnRequest comes straight back: that one
    is taken to be for the launch's biller, once (a single-use mark per session). Any later request from
    an SP that several billers share cannot be told apart, so it is refused (docs/per-biller.md).
    Blocking (a store write): off the event loop.
    """
    window = timedelta(seconds=instance.settings.idp.request_max_age)
    if instance.clock() - session.authn_instant > window:
        return False
    return instance.store.use_once("shared-sso-launch", session.session_id, session.authn_instant + 2 * window)


async def _answer_shared(request: Request, instance: Instance, incoming: Incoming, session: Session | None,
                         billers: BillerSnapshot) -> Response:
    candidates = shared_candidates(list(billers.on_sp(incoming.sp.entity_id)), incoming.sp.entity_id)
    if session is not None and not incoming.request.force_authn:
        biller = billers.get(session.identity.biller)
        if biller is None or biller.sp_entity_id != incoming.sp.entity_id:
            raise PermissionDenied(
                "your portal session is for another biller; open Invoice Cloud again from your portal"
            )
        unambiguous = [b.name for b in candidates] == [biller.name]
        if not unambiguous and not await in_thread(request, _launched_for_this_request, instance, session):
            # Several billers on this SP: answering from the session could sign the payer in to the wrong one.
            raise PermissionDenied(AMBIGUOUS, code="ambiguous_biller")
        return await _respond(request, instance, incoming, session, biller)
    if incoming.request.is_passive:
        return await _no_passive(request, instance, incoming)
    if len(candidates) == 1:
        remember_biller(request, candidates[0])  # the page can name the biller and link back to its portal
    if len(candidates) != 1 or not candidates[0].login_url:
        raise NoSession(NOT_SIGNED_IN)
    return RedirectResponse(await in_thread(request, _park, instance, incoming, candidates[0]), 303)


async def _answer_biller(
    request: Request, instance: Instance, incoming: Incoming, session: Session | None, biller: Biller
) -> Response:
    remember_biller(request, biller)
    if incoming.sp.entity_id != biller.sp_entity_id:
        raise PermissionDenied(f"this address signs payers in to biller {biller.name}'s service provider only")
    if session is not None and not incoming.request.force_authn:
        if session.identity.biller == biller.name:
            return await _respond(request, instance, incoming, session, biller)
        if incoming.request.is_passive:
            return await _no_passive(request, instance, incoming)
        return await in_thread(request, _refuse_crossing, request, instance, incoming, session, biller)
    if incoming.request.is_passive:
        return await _no_passive(request, instance, incoming)
    if not biller.login_url:
        raise NoSession(NOT_SIGNED_IN)
    return RedirectResponse(await in_thread(request, _park, instance, incoming, biller), 303)


def _refuse_crossing(
    request: Request, instance: Instance, incoming: Incoming, session: Session, biller: Biller
) -> Response:
    """A session for another biller at this biller's endpoints: never answered; parked for this biller if it can be.

    Blocking (an audit row, a parked request): off the event loop."""
    ip = client_ip(request)
    audit.record(instance.store, audit.login_event(
        audit.LOGIN_REFUSED, at=instance.clock(), outcome="refused", biller=biller.name, sp=incoming.sp.entity_id,
        flow="sp-initiated", client_ip=ip,
        detail=f"session_other_biller: a session for {session.identity.biller} at {biller.name}'s endpoints"))
    instance.metrics.logins.labels(biller.name, "sp-initiated", "refused").inc()
    message = (f"Invoice Cloud asked to sign you in to {biller.name}, but your portal session is for another "
               "biller, so the bridge did not sign you in.")
    link = None
    if biller.login_url:
        link = (_park(instance, incoming, biller), f"Sign in to {biller.name}'s portal to continue")
        message += " To continue, sign in to this biller's portal."
    else:
        message += " Open Invoice Cloud from this biller's portal to continue."
    return message_page(request, title="Signed in to another biller", message=message, status=403,
                        code="session_other_biller", link=link)


def _park(instance: Instance, incoming: Incoming, biller: Biller) -> str:
    """Keep the request server-side for ``biller``; the URL of that biller's login page that will resume it.

    Blocking (the replay mark and the parked request): off the event loop."""
    pending_id = instance.new_id()
    pending = PendingRequest(
        sp=incoming.sp.entity_id, acs_url=incoming.acs.location, request_id=incoming.request.id,
        relay_state=incoming.relay_state, nameid_format=incoming.request.nameid_format, biller=biller.name,
        endpoints=incoming.identity.biller,
    )
    lifetime = instance.settings.session.pending_lifetime
    instance.idp.use(incoming)
    instance.store.put_pending(pending_id, pending.to_dict(), instance.clock() + timedelta(seconds=lifetime))
    separator = "&" if "?" in (biller.login_url or "") else "?"
    return f"{biller.login_url}{separator}{urlencode({'saml_pending': pending_id})}"


async def _binding_input(request: Request) -> tuple[str | None, dict[str, str] | None]:
    """The raw query string (HTTP-Redirect) or the form fields (HTTP-POST) of a SAML request."""
    if request.method == "GET":
        return request.scope.get("query_string", b"").decode("latin-1"), None
    form = await request.form(max_files=0, max_fields=10)
    return None, {k: v for k, v in form.items() if isinstance(v, str)}


def _receive(instance: Instance, raw_query: str | None, fields: dict[str, str] | None,
             identity: IdpIdentity) -> Incoming:
    if raw_query is not None:
        return instance.idp.receive_redirect(raw_query, identity)
    return instance.idp.receive_post(fields or {}, identity)


def _refusal_event(instance: Instance, exc: BridgeError, ip: str | None, endpoint_biller: str | None) -> AuditEvent:
    # Refusals (a replay included) are part of the audit trail; the detail is ours, never the sender's bytes.
    return audit.login_event(
        audit.LOGIN_REFUSED, at=instance.clock(), outcome="refused", client_ip=ip,
        biller=endpoint_biller if endpoint_biller and NAME_RE.match(endpoint_biller) else None,
        flow="sp-initiated", detail=f"{exc.code}: {exc.detail}"[:300])


async def _sso(request: Request, raw_query: str | None, fields: dict[str, str] | None) -> Response:
    instance: Instance = request.app.state.instance
    steps = instance.steps
    t = steps.start()
    ip = client_ip(request)
    endpoint_biller: str | None = request.path_params.get("biller")
    try:
        due = instance.limiter.count_sso_client(ip, instance.settings.limits.sso_per_minute_per_ip)
        if due is not None:
            await in_thread(request, instance.limiter.settle, due)
            t = steps.start()  # about once a second per client: the wait is not this login's CPU
        billers = await _billers(request)
        if endpoint_biller is not None and NAME_RE.match(endpoint_biller):
            billers = await _billers_knowing(request, billers, name=endpoint_biller)
        identity, biller = _identity_of(request, billers)
        t = steps.lap("sso.limit_and_billers", t)
        incoming = _receive(instance, raw_query, fields, identity)
        t = steps.lap("sso.receive_parse_verify", t)
        session = await live_session(request)
        if biller is None:  # the shared endpoints: the session's biller and the SP's billers are looked up
            billers = await _billers_knowing(request, billers, name=session.identity.biller if session else None,
                                             sp=incoming.sp.entity_id)
        steps.lap("sso.session", t)
        if biller is None:
            return await _answer_shared(request, instance, incoming, session, billers)
        return await _answer_biller(request, instance, incoming, session, biller)
    except BridgeError as exc:
        if exc.code != "store_unavailable":
            await in_thread(request, audit.record, instance.store, _refusal_event(instance, exc, ip, endpoint_biller))
        raise


async def sso(request: Request) -> Response:
    instance: Instance = request.app.state.instance
    with instance.metrics.sso_latency.time():
        raw_query, fields = await _binding_input(request)
        return await _sso(request, raw_query, fields)


def _slo(request: Request, raw_query: str | None, fields: dict[str, str] | None) -> Response:
    instance: Instance = request.app.state.instance
    identity, _biller = _identity(request)
    incoming = instance.idp.receive_logout(raw_query=raw_query, form=fields, identity=identity)
    outgoing = instance.idp.logout_response(incoming)
    response: Response = (
        RedirectResponse(outgoing, status_code=303) if isinstance(outgoing, str)
        else saml_post_page(request, outgoing, biller=None)
    )
    end_session(request)  # revoked in the store: a copied cookie is dead too (we are off the event loop)
    clear_session_cookie(request, response)
    return response


async def slo(request: Request) -> Response:
    """SP-initiated Single Logout: end the bridge session and answer the SP with a signed LogoutResponse."""
    raw_query, fields = await _binding_input(request)
    return await in_thread(request, _slo, request, raw_query, fields)


routes = [
    Route(METADATA_PATH, metadata, methods=["GET"]),
    Route(SSO_PATH, sso, methods=["GET", "POST"]),
    Route(SLO_PATH, slo, methods=["GET", "POST"]),
    Route(BILLER_PREFIX + "/{biller}/metadata", metadata, methods=["GET"]),
    Route(BILLER_PREFIX + "/{biller}/sso", sso, methods=["GET", "POST"]),
    Route(BILLER_PREFIX + "/{biller}/slo", slo, methods=["GET", "POST"]),
]
