"""Building the browser-facing responses shared by several routes: the auto-POST page and session cookies."""

from __future__ import annotations

import math
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from bridge import session_state
from bridge.billers import Biller
from bridge.delegation.sessions import Session, cookie_policy
from bridge.errors import BridgeError
from bridge.idp import Outgoing
from bridge.invoicecloud.remote_auth import CloudSsoPage
from bridge.saml.bindings import auto_post_form, post_form
from bridge.web.pages import render
from bridge.web.security import page_csp


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def frame_ancestors(biller: Biller | None) -> str:
    """``'none'`` unless the biller lists its portal origins (ViewMode 1 pages run inside them)."""
    if biller is None or not biller.portal_origins:
        return "'none'"
    return " ".join(biller.portal_origins)


def saml_post_page(request: Request, outgoing: Outgoing, *, biller: Biller | None) -> HTMLResponse:
    nonce = request.state.csp_nonce
    html = post_form(outgoing.acs_url, "SAMLResponse", outgoing.message, outgoing.relay_state, nonce=nonce)
    response = HTMLResponse(html)
    response.headers["content-security-policy"] = page_csp(
        nonce, form_action=origin_of(outgoing.acs_url), frame_ancestors=frame_ancestors(biller)
    )
    return response


def cloud_sso_response(request: Request, page: CloudSsoPage, biller: Biller) -> Response:
    """The browser to IC's Cloud SSO page: an auto-POST form (the token stays out of URLs), or a GET per biller."""
    if biller.rest_delivery == "get":
        return RedirectResponse(page.get_url(), status_code=303)
    nonce = request.state.csp_nonce
    response = HTMLResponse(auto_post_form(page.url, page.fields, nonce=nonce))
    response.headers["content-security-policy"] = page_csp(
        nonce, form_action=origin_of(page.url), frame_ancestors=frame_ancestors(biller)
    )
    return response


def launch_error_page(request: Request, biller: Biller, exc: BridgeError, *, message: str) -> HTMLResponse:
    """A launch that failed for a known biller: plain words, the way back to the portal, framable by the portal."""
    back = biller.return_url or (biller.portal_origins[0] if biller.portal_origins else None)
    response = render(
        request, "launch_error.html", status=exc.status, title="We could not sign you in", message=message,
        code=exc.code, request_id=getattr(request.state, "request_id", None), back_url=back,
        back_name=biller.return_site_name or "the portal",
    )
    response.headers["content-security-policy"] = page_csp(
        request.state.csp_nonce, frame_ancestors=frame_ancestors(biller)
    )
    return response


def set_session_cookie(request: Request, response: Response, session: Session) -> None:
    """Issue (at launch) or renew (on each use) the payer's session cookie.

    Renewal slides the idle timeout only: the cookie's max-age never reaches past the session's
    absolute end, and the start it carries never changes (bridge.session_state).
    """
    instance = request.app.state.instance
    settings = instance.settings
    now = instance.clock()
    remaining = (session.ref().ends_at(settings.session.absolute_lifetime) - now).total_seconds()
    policy = cookie_policy(
        name=settings.session.cookie_name, https=settings.idp.is_https, view_mode=session.view_mode,
        idle_timeout=max(0, min(settings.session.idle_timeout, math.ceil(remaining))),
    )
    value = instance.sessions.dump(session, now=now)
    response.set_cookie(
        policy.name, value, max_age=policy.max_age, path="/", secure=policy.secure, httponly=True,
        samesite=policy.samesite,  # type: ignore[arg-type]
    )


def clear_session_cookie(request: Request, response: Response) -> None:
    settings = request.app.state.instance.settings
    response.delete_cookie(settings.session.cookie_name, path="/", secure=settings.idp.is_https, httponly=True)


def _cookie_session(request: Request) -> Session | None:
    """What the cookie says, signature and idle timeout checked; not yet whether the store revoked it."""
    instance = request.app.state.instance
    return instance.sessions.load(request.cookies.get(instance.settings.session.cookie_name), now=instance.clock())


def current_session(request: Request) -> Session | None:
    """The payer's live session: a valid cookie, within its absolute lifetime, not revoked.

    Blocking (one indexed store read when a cookie is present): call it off the event loop.
    """
    session = _cookie_session(request)
    if session is None:
        return None
    instance = request.app.state.instance
    live = session_state.is_live(instance.store, session.ref(), now=instance.clock(),
                                 absolute_lifetime=instance.settings.session.absolute_lifetime)
    return session if live else None


def end_session(request: Request) -> Session | None:
    """Sign the payer out on the server: revoke the cookie's session in the store (every node, every
    copy of the cookie); the caller also clears the cookie. Blocking (one store write when a cookie is
    present): call it off the event loop."""
    session = _cookie_session(request)
    if session is not None:
        instance = request.app.state.instance
        session_state.revoke(instance.store, session.ref(),
                             absolute_lifetime=instance.settings.session.absolute_lifetime)
    return session


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None
