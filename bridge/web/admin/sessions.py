"""The Sessions page: the admin's own session, and "sign out everywhere" for admins and payers.

Ending sessions goes through bridge.session_state (the same as ``icbridge sessions revoke``): every
node refuses the ended sessions at their next request. It takes nothing away an attacker could
want, so it asks for a confirmation but not for the credentials again.
"""

from __future__ import annotations

from datetime import timedelta

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bridge import session_state
from bridge.billers import get_biller
from bridge.errors import ValidationError
from bridge.instance import Instance
from bridge.web.admin.actions import Confirmation, Result, confirm_then_act, taken_result
from bridge.web.admin.auth import AdminSession, admin_page
from bridge.web.admin.page import NAV, NavItem, admin_render
from bridge.web.offload import in_thread

SESSIONS_PAGE = "/admin/sessions"
NAV.append(NavItem("Sessions", SESSIONS_PAGE))


def _stamp(instance: Instance, session: AdminSession) -> dict[str, str]:
    ends = session.started_at + timedelta(seconds=instance.settings.admin.absolute_lifetime)
    return {"started": f"{session.started_at:%Y-%m-%d %H:%M}", "ends": f"{ends:%Y-%m-%d %H:%M}",
            "checked": f"{session.authenticated_at:%Y-%m-%d %H:%M}"}


@admin_page
async def sessions_page(request: Request) -> Response:
    instance: Instance = request.app.state.instance
    records = await in_thread(request, instance.store.list_billers)
    return admin_render(request, "admin/sessions.html", title="Sessions", result=await taken_result(request),
                        billers=[r.name for r in records], **_stamp(instance, request.state.admin))


def _confirmation(what: str, biller: str | None) -> Confirmation:
    if what == "admins":
        return Confirmation(
            title="Sign out every admin session?",
            consequence=("Every admin session that exists now ends on every node, yours included: "
                         "everyone signs in again. A stolen admin cookie stops working."),
            button="Sign out every admin session", cancel=SESSIONS_PAGE, fields={"what": what},
        )
    whose = f"of biller {biller}" if biller else "of every biller"
    return Confirmation(
        title=f"End the payer sessions {whose}?",
        consequence=(f"Every bridge session of a payer {whose} that exists now ends on every node: those "
                     "payers start again from their portal. Invoice Cloud's own sessions are not touched."),
        button="End payer sessions", cancel=SESSIONS_PAGE, fields={"what": what, "biller": biller or ""},
    )


@admin_page
async def end_sessions(request: Request) -> Response:
    instance: Instance = request.app.state.instance
    form = await request.form()
    what = str(form.get("what") or "")
    if what not in ("admins", "payers"):
        raise ValidationError("what", "admins or payers")
    biller = str(form.get("biller") or "").strip() if what == "payers" else ""
    if biller:
        biller = (await in_thread(request, get_biller, instance.store, biller)).name  # 404 if unknown
    actor = request.state.admin.actor

    def act() -> tuple[str, Result]:
        ended = session_state.sign_out_everywhere(
            instance.store, instance.settings, admins=what == "admins", payers=what == "payers",
            now=instance.clock(), actor=actor, biller=biller or None, cache=instance.store_cache)
        return SESSIONS_PAGE, Result(f"Ended {' and '.join(ended)}.")

    return await confirm_then_act(request, _confirmation(what, biller or None), act)


routes = [
    Route(SESSIONS_PAGE, sessions_page, methods=["GET"]),
    Route(SESSIONS_PAGE + "/end", end_sessions, methods=["POST"]),
]
