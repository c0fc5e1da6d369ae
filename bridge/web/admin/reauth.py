"""Re-authentication: password-equivalent admin actions need the admin's credentials again, recently.

Rotating a biller's API key (the console shows the new key), activating or purging a signing key
and removing a biller are worth as much as the admin's password: someone holding only a stolen
session cookie must not be able to do them. Their confirmation (bridge.web.admin.actions, a
:class:`~bridge.web.admin.actions.Confirmation` with ``reauth=True``) therefore asks for the
admin token or password again when the session's last credential check is older than
``admin.reauth_window`` (5 minutes by default; Keycloak's consoles do the same). A successful
check moves the session's ``auth_ms`` to now, so a run of such actions asks once per window; it
is rate limited with the sign-in form (argon2 is slow on purpose) and audited as ``admin.reauth``.
"""

from __future__ import annotations

from datetime import timedelta

from starlette.datastructures import FormData
from starlette.requests import Request

from bridge import audit
from bridge.instance import Instance
from bridge.store.base import AuditEvent
from bridge.web.admin.auth import AdminSession, check_credentials
from bridge.web.admin.page import TOKEN_USER
from bridge.web.offload import in_thread
from bridge.web.responses import client_ip

ADMIN_REAUTH = audit.ADMIN_REAUTH
TOKEN_FIELD, PASSWORD_FIELD = "reauth_token", "reauth_password"


def is_fresh(request: Request) -> bool:
    """The signed-in admin's credentials were checked within ``admin.reauth_window``."""
    instance: Instance = request.app.state.instance
    session: AdminSession = request.state.admin
    window = timedelta(seconds=instance.settings.admin.reauth_window)
    return instance.clock() - session.authenticated_at <= window


def asks_token(session: AdminSession) -> bool:
    """An admin signed in with the token confirms with the token; a password user with the password."""
    return session.user == TOKEN_USER


def _check(instance: Instance, session: AdminSession, secret: str, ip: str | None) -> bool:
    instance.limiter.limit_admin_login(ip, instance.settings.admin.login_attempts_per_minute)
    admin = instance.settings.admin
    if asks_token(session):
        user = check_credentials(admin, username="", password="", token=secret)
    else:
        user = check_credentials(admin, username=session.user or "", password=secret, token="")
    ok = user is not None and user == session.user
    instance.store.record_audit(AuditEvent(
        at=instance.clock(), event=ADMIN_REAUTH, outcome="ok" if ok else "refused", client_ip=ip,
        actor=session.actor, detail=None if ok else "wrong admin credentials",
    ))
    return ok


async def reauthenticate(request: Request, form: FormData) -> str | None:
    """Check the credentials a confirmation form carries; None when they match the signed-in admin
    (the session is then fresh again), else what to tell the admin."""
    instance: Instance = request.app.state.instance
    session: AdminSession = request.state.admin
    secret = str(form.get(TOKEN_FIELD if asks_token(session) else PASSWORD_FIELD) or "")
    what = "admin token" if asks_token(session) else "password"
    if not secret:
        return f"Enter your {what} again to confirm this; nothing was changed."
    if not await in_thread(request, _check, instance, session, secret, client_ip(request)):
        return f"That {what} is not right; nothing was changed."
    request.state.admin = session.reauthenticated(instance.clock())
    return None
