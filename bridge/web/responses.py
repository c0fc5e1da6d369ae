"""Building the browser-facing responses shared by several routes: the auto-POST page and session cookies."""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from bridge.billers import Biller
from bridge.delegation.sessions import Session, cookie_policy
from bridge.idp import Outgoing
from bridge.saml.bindings import post_form
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


def set_session_cookie(request: Request, response: Response, session: Session) -> None:
    instance = request.app.state.instance
    settings = instance.settings
    policy = cookie_policy(
        name=settings.session.cookie_name, https=settings.idp.is_https, view_mode=session.view_mode,
        idle_timeout=settings.session.idle_timeout,
    )
    value = instance.sessions.dump(session, now=instance.clock())
    response.set_cookie(
        policy.name, value, max_age=policy.max_age, path="/", secure=policy.secure, httponly=True,
        samesite=policy.samesite,  # type: ignore[arg-type]
    )


def clear_session_cookie(request: Request, response: Response) -> None:
    settings = request.app.state.instance.settings
    response.delete_cookie(settings.session.cookie_name, path="/", secure=settings.idp.is_https, httponly=True)


def current_session(request: Request) -> Session | None:
    instance = request.app.state.instance
    return instance.sessions.load(request.cookies.get(instance.settings.session.cookie_name), now=instance.clock())


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None
