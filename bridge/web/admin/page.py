"""How every admin page is rendered: the shared layout's context and the page's security headers.

The layout (templates/admin/layout.html) draws the product bar, the navigation with the current page
marked (``aria-current``), who is signed in and the sign-out button. A feature adds its page to the
navigation by appending to ``NAV``. Admin pages get the page CSP (scripts only by this response's
nonce: the copy buttons' few lines) and are never framed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse

from bridge.web.pages import render
from bridge.web.security import page_csp

PRODUCT = "IC Bridge"
TAGLINE = "SAML sign-in for Invoice Cloud"
TOKEN_USER = "token"  # noqa: S105 (a user name: bridge.web.admin.auth signs the admin token in as "token")


@dataclass(frozen=True, slots=True)
class NavItem:
    label: str
    href: str

    def is_current(self, path: str) -> bool:
        """The dashboard only on itself; any other section also on its sub-pages (a biller's edit page)."""
        if self.href == "/admin":
            return path in ("/admin", "/admin/")
        return path == self.href or path.startswith(self.href + "/")


NAV: list[NavItem] = [
    NavItem("Dashboard", "/admin"),
    NavItem("Billers", "/admin/billers"),
    NavItem("Signing keys", "/admin/keys"),
    NavItem("Audit trail", "/admin/audit"),
]


def display_name(user: str | None) -> str:
    """Who the header says is signed in: the admin token is "admin", a password user is their name."""
    if user is None:
        return ""
    return "admin" if user == TOKEN_USER else user


def admin_render(request: Request, template: str, *, status: int = 200, **context: Any) -> HTMLResponse:
    session = getattr(request.state, "admin", None)
    user = getattr(session, "user", None)
    path = request.url.path
    response = render(
        request, template, status=status, admin=session, csrf=getattr(session, "csrf", ""),
        who=display_name(user), nav=[(item, item.is_current(path)) for item in NAV],
        product=PRODUCT, tagline=TAGLINE, **context,
    )
    secure_admin_page(request, response)
    return response


def secure_admin_page(request: Request, response: HTMLResponse) -> None:
    response.headers["content-security-policy"] = page_csp(request.state.csp_nonce)
    response.headers["x-frame-options"] = "DENY"
