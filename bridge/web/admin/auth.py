"""Admin authentication: argon2-checked credentials, the admin session cookie, and the page guard.

The admin session is its own cookie (not the payer's): itsdangerous-signed with the session
secrets under its own salt, SHA-256, HttpOnly, ``SameSite=Strict``, Secure (and ``__Host-``)
on https, with a short sliding idle timeout. It also carries the CSRF token of the session
(bridge.web.admin.csrf). A visitor who is not signed in gets an anonymous session so that even
the login form carries a CSRF token. Admin pages are never framed: the edge sets
``frame-ancestors 'none'`` and ``X-Frame-Options: DENY``, and the guard refuses requests a
browser says are for a frame (``Sec-Fetch-Dest``).
"""

from __future__ import annotations

import hmac
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from functools import wraps

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from bridge.config import AdminSettings
from bridge.delegation.tokens import TimedTokens, TokenError
from bridge.errors import AuthenticationError, PermissionDenied
from bridge.instance import Instance

SALT = "bridge.admin-session.v1"
LOGIN_PATH = "/admin/login"
FRAME_DESTINATIONS = frozenset({"iframe", "frame", "embed", "object", "fencedframe"})
log = logging.getLogger(__name__)
_hasher = PasswordHasher()


@dataclass(frozen=True, slots=True)
class AdminSession:
    sid: str
    csrf: str
    user: str | None = None  # None: anonymous (the login form's session)

    @property
    def actor(self) -> str:
        return f"admin:{self.user}"

    @classmethod
    def fresh(cls, user: str | None = None) -> AdminSession:
        return cls(sid=secrets.token_urlsafe(16), csrf=secrets.token_urlsafe(32), user=user)


class AdminSessions:
    """Signs and reads the admin cookie; the timestamp comes from the injected clock."""

    def __init__(self, session_secrets: list[str], *, idle_timeout: int, https: bool) -> None:
        self._tokens = TimedTokens(session_secrets, salt=SALT)
        self.idle_timeout = idle_timeout
        self.https = https
        self.cookie_name = "__Host-bridge_admin" if https else "bridge_admin"

    def dump(self, session: AdminSession, *, now: datetime) -> str:
        payload = {"sid": session.sid, "csrf": session.csrf, "u": session.user}
        return self._tokens.dump(payload, now=now)

    def load(self, value: str | None, *, now: datetime) -> AdminSession | None:
        if not value or len(value) > 2048:
            return None
        try:
            payload = self._tokens.load(value, max_age=self.idle_timeout, now=now)
            user = payload.get("u")
            return AdminSession(sid=str(payload["sid"]), csrf=str(payload["csrf"]),
                                user=str(user) if user is not None else None)
        except (TokenError, KeyError, TypeError, ValueError, AttributeError):
            return None

    def set_cookie(self, response: Response, session: AdminSession, *, now: datetime) -> None:
        response.set_cookie(
            self.cookie_name, self.dump(session, now=now), max_age=self.idle_timeout, path="/",
            secure=self.https, httponly=True, samesite="strict",
        )

    def clear_cookie(self, response: Response) -> None:
        response.delete_cookie(self.cookie_name, path="/", secure=self.https, httponly=True, samesite="strict")


def admin_sessions(instance: Instance) -> AdminSessions:
    sessions = instance.extras.get("admin_sessions")
    if sessions is None:
        settings = instance.settings
        sessions = AdminSessions(list(settings.session.secrets), idle_timeout=settings.admin.idle_timeout,
                                 https=settings.idp.is_https)
        instance.extras["admin_sessions"] = sessions
    return sessions


def current_admin_session(request: Request) -> AdminSession | None:
    instance: Instance = request.app.state.instance
    sessions = admin_sessions(instance)
    return sessions.load(request.cookies.get(sessions.cookie_name), now=instance.clock())


def _verify(hashed: str | None, presented: str) -> bool:
    if not hashed or not presented or len(presented) > 1024:
        return False
    try:
        return _hasher.verify(hashed, presented)
    except (VerificationError, InvalidHashError):
        return False


def check_credentials(admin: AdminSettings, *, username: str, password: str, token: str) -> str | None:
    """The signed-in admin's name, or None. Slow on purpose (argon2): call it off the event loop."""
    if token:
        return "token" if _verify(admin.token_hash, token) else None
    if password and hmac.compare_digest(username.encode(), admin.username.encode()):
        return admin.username if _verify(admin.password_hash, password) else None
    return None


def refuse_frames(request: Request) -> None:
    if request.headers.get("sec-fetch-dest", "").lower() in FRAME_DESTINATIONS:
        raise PermissionDenied("the admin console cannot be shown inside a frame")


Handler = Callable[[Request], Awaitable[Response]]


def admin_page(handler: Handler) -> Handler:
    """Guard an admin route: frames refused, a signed-in session required, CSRF checked on POST.

    The cookie is re-issued on every answer so the idle timeout slides.
    """
    from bridge.web.admin.csrf import verify_csrf

    @wraps(handler)
    async def guarded(request: Request) -> Response:
        refuse_frames(request)
        session = current_admin_session(request)
        if session is None or session.user is None:
            if request.method == "GET":
                return RedirectResponse(LOGIN_PATH, status_code=303)
            raise AuthenticationError("sign in to the admin console first (your session may have expired)")
        if request.method == "POST":
            await verify_csrf(request, session)
        request.state.admin = session
        response = await handler(request)
        if not getattr(request.state, "admin_signed_out", False):
            instance: Instance = request.app.state.instance
            admin_sessions(instance).set_cookie(response, session, now=instance.clock())
        return response

    return guarded
