"""CSRF protection for the admin console: a session-bound synchronizer token.

The token is random per admin session and travels inside the signed, HttpOnly session cookie;
every form carries it in a hidden ``csrf`` field and every POST must present it (compared in
constant time). A cross-site page can neither read the cookie nor the page, so it cannot
forge the field; ``SameSite=Strict`` is a second, independent barrier.
"""

from __future__ import annotations

import hmac

from starlette.requests import Request

from bridge.errors import PermissionDenied
from bridge.web.admin.auth import AdminSession

FIELD = "csrf"


async def verify_csrf(request: Request, session: AdminSession | None) -> None:
    form = await request.form(max_files=0, max_fields=64)
    presented = form.get(FIELD)
    if session is None or not isinstance(presented, str) or not presented:
        raise PermissionDenied("the form has no valid CSRF token; reload the page and try again")
    if not hmac.compare_digest(presented.encode(), session.csrf.encode()):
        raise PermissionDenied("the form has no valid CSRF token; reload the page and try again")
