"""Building the browser-facing responses shared by several routes: the auto-POST page and session cookies."""

from __future__ import annotations

import math

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from bridge import session_state
from bridge.billers import Biller
from bridge.delegation.sessions import Session, cookie_policy, needs_renewal
from bridge.errors import BridgeError
from bridge.idp import Outgoing
from bridge.invoicecloud.remote_auth import CloudSsoPage
from bridge.saml.bindings import post_fields
from bridge.web.cookies import expire_cookie, write_cookie
from bridge.web.offload import in_thread
from bridge.web.payer import frame_ancestors as frame_ancestors  # re-exported for the simulator's pages
from bridge.web.payer import message_page, post_page, remember_biller
from bridge.web.payer import origin_of as origin_of  # re-exported for the simulator's pages


def saml_post_page(request: Request, outgoing: Outgoing, *, biller: Biller | None) -> HTMLResponse:
    fields = post_fields("SAMLResponse", outgoing.message, outgoing.relay_state)
    return post_page(request, outgoing.acs_url, fields, biller=biller)


def cloud_sso_response(request: Request, page: CloudSsoPage, biller: Biller) -> Response:
    """The browser to IC's Cloud SSO page: an auto-POST form (the token stays out of URLs), or a GET per biller."""
    if biller.rest_delivery == "get":
        return RedirectResponse(page.get_url(), status_code=303)
    return post_page(request, page.url, list(page.fields.items()), biller=biller)


def launch_error_page(request: Request, biller: Biller, exc: BridgeError, *, message: str) -> HTMLResponse:
    """A launch that failed for a known biller: plain words and the way back to the portal (payer layout)."""
    remember_biller(request, biller)
    return message_page(request, title="We could not sign you in", message=message, status=exc.status,
                        code=exc.code)


def set_session_cookie(request: Request, response: Response, session: Session) -> None:
    """Issue (at launch) or renew (on use) the payer's session cookie.

    Renewal slides the idle timeout only: the cookie's max-age never reaches past the session's
    absolute end, and the start it carries never changes (bridge.session_state). A cookie issued
    less than :func:`renewal_step` ago is left as it is (the idle timeout slides in those steps).
    """
    instance = request.app.state.instance
    settings = instance.settings
    now = instance.clock()
    if not needs_renewal(session, now=now, idle_timeout=settings.session.idle_timeout):
        return
    remaining = (session.ref().ends_at(settings.session.absolute_lifetime) - now).total_seconds()
    policy = cookie_policy(
        name=settings.session.cookie_name, https=settings.idp.is_https, view_mode=session.view_mode,
        idle_timeout=max(0, min(settings.session.idle_timeout, math.ceil(remaining))),
    )
    write_cookie(response, policy, instance.sessions.dump(session, now=now))


def clear_session_cookie(request: Request, response: Response) -> None:
    settings = request.app.state.instance.settings
    expire_cookie(response, settings.session.cookie_name, https=settings.idp.is_https)


def _cookie_session(request: Request) -> Session | None:
    """What the cookie says, signature and idle timeout checked; not yet whether the store revoked it."""
    instance = request.app.state.instance
    return instance.sessions.load(request.cookies.get(instance.settings.session.cookie_name), now=instance.clock())


async def live_session(request: Request) -> Session | None:
    """The payer's live session: a valid cookie, within its absolute lifetime, not revoked. For a handler on
    the event loop: from this process's memory when its cache vouches for the session (bridge.store_cache,
    within the bound SECURITY.md states), else the store is read off the loop."""
    session = _cookie_session(request)
    if session is None:
        return None
    instance = request.app.state.instance
    ref, now, lifetime = session.ref(), instance.clock(), instance.settings.session.absolute_lifetime
    live = session_state.live_from_memory(ref, instance.store_cache, now=now, absolute_lifetime=lifetime)
    if live is None:
        live = await in_thread(request, session_state.is_live, instance.store, ref, now=now,
                               absolute_lifetime=lifetime, cache=instance.store_cache)
    return session if live else None


def end_session(request: Request) -> Session | None:
    """Sign the payer out on the server: revoke the cookie's session in the store (every node, every
    copy of the cookie); the caller also clears the cookie. Blocking (one store write when a cookie is
    present): call it off the event loop."""
    session = _cookie_session(request)
    if session is not None:
        instance = request.app.state.instance
        session_state.revoke(instance.store, session.ref(),
                             absolute_lifetime=instance.settings.session.absolute_lifetime, cache=instance.store_cache)
    return session


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None
