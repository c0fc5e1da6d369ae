"""Admin pages: sign-in and sign-out, the dashboard, and the audit trail (view and export)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from bridge import audit
from bridge.audit import TITLES, as_row, export_lines
from bridge.cli.audit import parse_since
from bridge.errors import ValidationError
from bridge.instance import Instance
from bridge.store.base import AuditEvent
from bridge.web.admin.auth import (
    LOGIN_PATH,
    AdminSession,
    admin_page,
    admin_sessions,
    check_credentials,
    current_admin_session,
    refuse_frames,
    signed_in_session,
)
from bridge.web.admin.charts import hourly_chart
from bridge.web.admin.csrf import verify_csrf
from bridge.web.admin.page import admin_render
from bridge.web.health_routes import readiness
from bridge.web.offload import in_thread
from bridge.web.pages import render
from bridge.web.responses import client_ip

ADMIN_LOGIN = "admin.login"
ADMIN_LOGOUT = "admin.logout"
AUDIT_PAGE_LIMIT = 200
# The page's column order: what happened, who did it and why first (a wide table scrolls inside its card, so
# the columns that may need scrolling to are the client address and the long SP entity ID, one per biller).
AUDIT_COLUMNS = ("at", "event", "outcome", "biller", "actor", "detail", "email", "account", "login_type", "flow",
                 "client_ip", "sp")


# --- sign in / out -------------------------------------------------------------------------------
def _login_form(request: Request, session: AdminSession, *, error: str | None = None, status: int = 200) -> Response:
    instance: Instance = request.app.state.instance
    configured = bool(instance.settings.admin.token_hash or instance.settings.admin.password_hash)
    response = render(request, "admin/login.html", status=status, title="Admin sign-in", csrf=session.csrf,
                      error=error, configured=configured, username=instance.settings.admin.username)
    admin_sessions(instance).set_cookie(response, session, now=instance.clock())
    return response


async def login_page(request: Request) -> Response:
    refuse_frames(request)
    if await in_thread(request, signed_in_session, request) is not None:
        return RedirectResponse("/admin", status_code=303)
    session = current_admin_session(request)
    if session is None or session.user is not None:  # a signed-out or revoked cookie keeps nothing
        session = AdminSession.fresh()
    return _login_form(request, session)


def _attempt(instance: Instance, ip: str | None, username: str, password: str, token: str) -> str | None:
    now = instance.clock()
    instance.limiter.limit_admin_login(ip, instance.settings.admin.login_attempts_per_minute)
    user = check_credentials(instance.settings.admin, username=username, password=password, token=token)
    instance.store.record_audit(AuditEvent(
        at=now, event=ADMIN_LOGIN, outcome="ok" if user else "refused", client_ip=ip,
        actor=f"admin:{user}" if user else None, detail=None if user else "wrong admin credentials",
    ))
    return user


async def login(request: Request) -> Response:
    refuse_frames(request)
    instance: Instance = request.app.state.instance
    session = current_admin_session(request)
    await verify_csrf(request, session)
    assert session is not None
    form = await request.form()
    fields = {name: str(form.get(name) or "") for name in ("username", "password", "token")}
    user = await in_thread(request, _attempt, instance, client_ip(request), fields["username"], fields["password"],
                                   fields["token"])
    if user is None:
        return _login_form(request, session, error="Those credentials are not valid.", status=401)
    sessions = admin_sessions(instance)
    if session.user is not None:  # signing in over an older session ends that one everywhere
        await in_thread(request, sessions.revoke, instance.store, session)
    response = RedirectResponse("/admin", status_code=303)
    # A new session ID and CSRF token at sign-in: nothing from the anonymous session carries over.
    sessions.set_cookie(response, AdminSession.fresh(user, now=instance.clock()), now=instance.clock())
    return response


def _sign_out(instance: Instance, session: AdminSession, ip: str | None) -> None:
    admin_sessions(instance).revoke(instance.store, session)
    instance.store.record_audit(AuditEvent(at=instance.clock(), event=ADMIN_LOGOUT, outcome="ok", client_ip=ip,
                                           actor=session.actor))


@admin_page
async def logout(request: Request) -> Response:
    """Revoked in the store, not only cleared: a copy of the cookie is refused on every node from now on."""
    instance: Instance = request.app.state.instance
    await in_thread(request, _sign_out, instance, request.state.admin, client_ip(request))
    response = RedirectResponse(LOGIN_PATH, status_code=303)
    request.state.admin_signed_out = True
    admin_sessions(instance).clear_cookie(response)
    return response


# --- dashboard -----------------------------------------------------------------------------------
def logins_per_hour(events: list[AuditEvent], *, now: datetime, hours: int = 24) -> list[tuple[str, int, int]]:
    """(hour label, issued, refused) for the last ``hours`` hours, oldest first."""
    top = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    issued: Counter[datetime] = Counter()
    refused: Counter[datetime] = Counter()
    for event in events:
        hour = event.at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        if event.event == audit.LOGIN_ISSUED:
            issued[hour] += 1
        elif event.event in (audit.LOGIN_REFUSED, audit.TICKET_REFUSED):
            refused[hour] += 1
    slots = [top - timedelta(hours=h) for h in range(hours - 1, -1, -1)]
    return [(f"{slot:%Y-%m-%d %H}:00", issued[slot], refused[slot]) for slot in slots]


def _dashboard(instance: Instance) -> dict[str, Any]:
    now = instance.clock()
    keys = instance.keyring.current
    active = keys.active
    days_left = (active.certificate.not_after - now).days if active else None
    billers = instance.store.list_billers()
    bound: Counter[str] = Counter(r.sp_entity_id for r in billers)
    fetches = instance.store.metadata_fetches(since=now - timedelta(days=30))[-10:]
    events = instance.store.audit_events(since=now - timedelta(hours=24), limit=100_000)
    hours = logins_per_hour(events, now=now)
    _, ready = readiness(instance)
    return {
        "active": active, "days_left": days_left, "records": keys.records,
        "warning_days": instance.settings.keys.expiry_warning_days,
        "sps": [(sp, bound.get(sp.entity_id, 0)) for sp in instance.registry],
        "fetches": list(reversed(fetches)), "last_fetch": fetches[-1] if fetches else None,
        "hours": hours, "hours_chart": hourly_chart(hours),
        "logins_24h": sum(h[1] for h in hours), "ready": ready, "biller_count": len(billers),
    }


@admin_page
async def dashboard(request: Request) -> Response:
    context = await in_thread(request, _dashboard, request.app.state.instance)
    return admin_render(request, "admin/dashboard.html", title="Dashboard", **context)


# --- audit ---------------------------------------------------------------------------------------
def _filters(request: Request) -> tuple[datetime | None, str | None, str | None]:
    params = request.query_params
    since_text = (params.get("since") or "").strip()
    since = None
    if since_text:
        try:
            since = parse_since(since_text, now=request.app.state.instance.clock())
        except Exception:
            raise ValidationError("since", "an ISO 8601 time or a duration such as 24h or 30m") from None
    return since, (params.get("biller") or "").strip() or None, (params.get("event") or "").strip() or None


@admin_page
async def audit_page(request: Request) -> Response:
    instance: Instance = request.app.state.instance
    since, biller, event = _filters(request)
    events = await in_thread(request, instance.store.audit_events, since=since, biller=biller,
                                     limit=AUDIT_PAGE_LIMIT if event is None else 5000)
    rows = [as_row(e) for e in reversed(events) if event is None or e.event == event][:AUDIT_PAGE_LIMIT]
    names = [r.name for r in await in_thread(request, instance.store.list_billers)]
    query = {k: v for k, v in request.query_params.items() if k in ("since", "biller") and v}
    return admin_render(request, "admin/audit.html", title="Audit trail", rows=rows, fields=AUDIT_COLUMNS,
                        titles=TITLES, billers=names, since=request.query_params.get("since", ""), biller=biller or "",
                        event=event or "", query=query, limit=AUDIT_PAGE_LIMIT)


@admin_page
async def audit_export(request: Request) -> Response:
    instance: Instance = request.app.state.instance
    fmt = request.query_params.get("format", "jsonl")
    if fmt not in ("jsonl", "csv"):
        raise ValidationError("format", "csv or jsonl")
    since, biller, _event = _filters(request)
    events = instance.store.iter_audit(since=since, biller=biller)  # type: ignore[attr-defined]
    media = "text/csv; charset=utf-8" if fmt == "csv" else "application/x-ndjson"
    stamp = instance.clock().strftime("%Y%m%dT%H%M%SZ")
    return StreamingResponse(
        export_lines(events, fmt), media_type=media,
        headers={"content-disposition": f'attachment; filename="bridge-audit-{stamp}.{fmt}"'},
    )


routes = [
    Route(LOGIN_PATH, login_page, methods=["GET"]),
    Route(LOGIN_PATH, login, methods=["POST"]),
    Route("/admin/logout", logout, methods=["POST"]),
    Route("/admin", dashboard, methods=["GET"]),
    Route("/admin/audit", audit_page, methods=["GET"]),
    Route("/admin/audit/export", audit_export, methods=["GET"]),
]
