"""Pages a payer sees: the auto-POST page and every message, in one layout (templates/payer/).

The biller a page belongs to is remembered on the request as soon as a route knows it
(:func:`remember_biller`), so an error raised later still shows the biller's name, its "Return to …"
link and its stylesheet. Framing: a page with an action (the auto-POST form) may be framed only by the
biller's portal origins; a page with none (every message) may be framed by anyone, so that the payer
and the portal's developers can read it wherever it appears, instead of a browser's grey frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse

from bridge.billers import Biller
from bridge.web.pages import environment
from bridge.web.security import page_csp

DEFAULT_SITE_NAME = "Invoice Cloud sign-in"
ANY_FRAME = "*"  # frame-ancestors of pages without actions (see the module docstring)


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def frame_ancestors(biller: Biller | None) -> str:
    """``'none'`` unless the biller lists its portal origins (ViewMode 1 pages run inside them)."""
    if biller is None or not biller.portal_origins:
        return "'none'"
    return " ".join(biller.portal_origins)


@dataclass(frozen=True, slots=True)
class PayerView:
    """What the layout shows of a biller: its name, the way back to its portal, its stylesheet."""

    site_name: str = DEFAULT_SITE_NAME
    return_url: str | None = None
    return_label: str = "your portal"
    css_url: str | None = None

    @classmethod
    def of(cls, biller: Biller | None) -> PayerView:
        if biller is None:
            return cls()
        name = biller.return_site_name or biller.name
        return cls(site_name=name, return_url=biller.return_url, return_label=name, css_url=biller.css_url)


def remember_biller(request: Request, biller: Biller | None) -> None:
    request.state.payer_biller = biller


def remembered_biller(request: Request) -> Biller | None:
    return getattr(request.state, "payer_biller", None)


def _render(request: Request, template: str, *, status: int, csp: str, **context: Any) -> HTMLResponse:
    nonce = getattr(request.state, "csp_nonce", "")
    html = environment().get_template(template).render(
        nonce=nonce, payer=PayerView.of(remembered_biller(request)), **context
    )
    return HTMLResponse(html, status_code=status, headers={"content-security-policy": csp})


def _csp(request: Request, *, form_action: str, ancestors: str) -> str:
    biller = remembered_biller(request)
    css = origin_of(biller.css_url) if biller is not None and biller.css_url else None
    return page_csp(getattr(request.state, "csp_nonce", ""), form_action=form_action, frame_ancestors=ancestors,
                    style_origin=css)


def message_page(
    request: Request, *, title: str, message: str, status: int, code: str | None = None, advice: str | None = None,
    link: tuple[str, str] | None = None,
) -> HTMLResponse:
    """A page with words and links only (``link``: the (URL, text) of the one way on, if any; the portal's
    return link): framable anywhere, no form may leave it."""
    return _render(
        request, "payer/message.html", status=status, csp=_csp(request, form_action="'none'", ancestors=ANY_FRAME),
        title=title, message=message, code=code, advice=advice, link=link,
        request_id=getattr(request.state, "request_id", None),
    )


def post_page(request: Request, action: str, fields: list[tuple[str, str]], *, biller: Biller | None) -> HTMLResponse:
    """The HTTP-POST binding page (SAML Bindings 3.5): auto-submits with the nonce'd script, a labelled
    button without scripts; framed only by the biller's portal origins, posting only to ``action``'s origin."""
    if biller is not None:
        remember_biller(request, biller)
    csp = _csp(request, form_action=origin_of(action), ancestors=frame_ancestors(biller))
    return _render(request, "payer/post.html", status=200, csp=csp, title="Signing you in to Invoice Cloud",
                   action=action, fields=fields)
