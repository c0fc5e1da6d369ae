"""Admin authentication: argon2-checked credentials, the admin session cookie, and the page guard.

The admin session is its own cookie (not the payer's): itsdangerous-signed with the session
secrets under its own salt, SHA-256, HttpOnly, ``SameSite=Strict``, Secure (and ``__Host-``)
on https, with a short sliding idle timeout. It carries the session ID, the sign-in time (the
absolute lifetime counts from it) and the last credential check (re-authentication, see
bridge.web.admin.reauth); bridge.session_state asks the store on every request whether the
session was signed out or revoked everywhere. It also carries the CSRF token of the session
(bridge.web.admin.csrf). A visitor who is not signed in gets an anonymous session so that even
the login form carries a CSRF token. Admin pages are never framed: the edge sets
``frame-ancestors 'none'`` and ``X-Frame-Options: DENY``, and the guard refuses requests a
browser says are for a frame (``Sec-Fetch-Dest``).
"""

from __future__ import annotations

import hmac
import logging
import math
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import wraps

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from bridge import session_state
from bridge.config import AdminSettings
from bridge.delegation.tokens import TimedTokens, TokenError
from bridge.errors import AuthenticationError, PermissionDenied
from bridge.instance import Instance
from bridge.session_state import ADMIN, SessionRef
from bridge.store.base import Store
from bridge.web.offload import in_thread

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
    started_ms: int = 0  # sign-in time: the absolute lifetime counts from here and renewal never moves it
    auth_ms: int = 0  # last time the admin's credentials were checked (sign-in or re-authentication)

    @property
    def actor(self) -> str:
        return f"admin:{self.user}"

    @property
    def started_at(self) -> datetime:
        return datetime.fromtimestamp(self.started_ms / 1000, tz=UTC)

    @property
    def authenticated_at(self) -> datetime:
        return datetime.fromtimestamp(self.auth_ms / 1000, tz=UTC)

    def ref(self) -> SessionRef:
        return SessionRef(kind=ADMIN, sid=self.sid, started_at=self.started_at)

    def reauthenticated(self, now: datetime) -> AdminSession:
        return replace(self, auth_ms=_ms(now))

    @classmethod
    def fresh(cls, user: str | None = None, *, now: datetime | None = None) -> AdminSession:
        at = _ms(now) if now is not None else 0
        return cls(sid=secrets.token_urlsafe(16), csrf=secrets.token_urlsafe(32), user=user, started_ms=at,
                   auth_ms=at)


def _ms(value: datetime) -> int:
    return int(value.timestamp() * 1000)


class AdminSessions:
    """Signs and reads the admin cookie, and asks the store whether a signed-in session still lives."""

    def __init__(self, session_secrets: list[str], *, idle_timeout: int, absolute_lifetime: int, https: bool) -> None:
        self._tokens = TimedTokens(session_secrets, salt=SALT)
        self.idle_timeout = idle_timeout
        self.absolute_lifetime = absolute_lifetime
        self.https = https
        self.cookie_name = "__Host-bridge_admin" if https else "bridge_admin"

    def dump(self, session: AdminSession, *, now: datetime) -> str:
        payload = {"sid": session.sid, "csrf": session.csrf, "u": session.user, "st": session.started_ms,
                   "au": session.auth_ms}
        return self._tokens.dump(payload, now=now)

    def load(self, value: str | None, *, now: datetime) -> AdminSession | None:
        """What the cookie says (signature and idle timeout checked); :meth:`is_live` asks the store."""
        if not value or len(value) > 2048:
            return None
        try:
            payload = self._tokens.load(value, max_age=self.idle_timeout, now=now)
            user = payload.get("u")
            return AdminSession(sid=str(payload["sid"]), csrf=str(payload["csrf"]),
                                user=str(user) if user is not None else None,
                                started_ms=int(payload.get("st", 0)), auth_ms=int(payload.get("au", 0)))
        except (TokenError, KeyError, TypeError, ValueError, AttributeError):
            return None

    def is_live(self, store: Store, session: AdminSession, *, now: datetime) -> bool:
        """A signed-in session within its absolute lifetime and not revoked (one store read)."""
        return session.user is not None and session_state.is_live(
            store, session.ref(), now=now, absolute_lifetime=self.absolute_lifetime)

    def revoke(self, store: Store, session: AdminSession) -> None:
        session_state.revoke(store, session.ref(), absolute_lifetime=self.absolute_lifetime)

    def set_cookie(self, response: Response, session: AdminSession, *, now: datetime) -> None:
        max_age = self.idle_timeout
        if session.user is not None:  # never past the absolute end, however often it is renewed
            remaining = (session.ref().ends_at(self.absolute_lifetime) - now).total_seconds()
            max_age = max(0, min(max_age, math.ceil(remaining)))
        response.set_cookie(
            self.cookie_name, self.dump(session, now=now), max_age=max_age, path="/",
            secure=self.https, httponly=True, samesite="strict",
        )

    def clear_cookie(self, response: Response) -> None:
        response.delete_cookie(self.cookie_name, path="/", secure=self.https, httponly=True, samesite="strict")


def admin_sessions(instance: Instance) -> AdminSessions:
    sessions = instance.extras.get("admin_sessions")
    if sessions is None:
        settings = instance.settings
        sessions = AdminSessions(list(settings.session.secrets), idle_timeout=settings.admin.idle_timeout,
                                 absolute_lifetime=settings.admin.absolute_lifetime, https=settings.idp.is_https)
        instance.extras["admin_sessions"] = sessions
    return sessions


def current_admin_session(request: Request) -> AdminSession | None:
    """The cookie's session, signature and idle timeout checked: enough for the anonymous login form's
    CSRF token. Whether a signed-in session still lives is :func:`signed_in_session`'s question."""
    instance: Instance = request.app.state.instance
    sessions = admin_sessions(instance)
    return sessions.load(request.cookies.get(sessions.cookie_name), now=instance.clock())


def signed_in_session(request: Request) -> AdminSession | None:
    """The signed-in admin session, or None: signed out, revoked everywhere, past its absolute lifetime,
    idle too long or forged. Blocking (one store read): call it off the event loop."""
    session = current_admin_session(request)
    if session is None or session.user is None:
        return None
    instance: Instance = request.app.state.instance
    return session if admin_sessions(instance).is_live(instance.store, session, now=instance.clock()) else None


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
    """Guard an admin route: frames refused, a live signed-in session required, CSRF checked on POST.

    Every request re-checks the session in the store (signed out? revoked everywhere? past its
    absolute lifetime?) before the cookie is renewed, so the idle timeout slides only for a session
    the server still honours. The renewed cookie carries ``request.state.admin`` as the handler
    left it (a re-authentication updates it).
    """
    from bridge.web.admin.csrf import verify_csrf

    @wraps(handler)
    async def guarded(request: Request) -> Response:
        refuse_frames(request)
        instance: Instance = request.app.state.instance
        session = await in_thread(request, signed_in_session, request)
        if session is None:
            if request.method == "GET":
                response: Response = RedirectResponse(LOGIN_PATH, status_code=303)
                admin_sessions(instance).clear_cookie(response)
                return response
            raise AuthenticationError("sign in to the admin console first (your session may have expired)")
        if request.method == "POST":
            await verify_csrf(request, session)
        request.state.admin = session
        response = await handler(request)
        if not getattr(request.state, "admin_signed_out", False):
            admin_sessions(instance).set_cookie(response, request.state.admin, now=instance.clock())
        return response

    return guarded
