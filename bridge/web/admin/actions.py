"""State-changing admin forms: confirm, act, then redirect to a page that shows the result (post/redirect/get).

Every POST that changes state answers ``303 See Other`` to a GET page, so reloading that page never
repeats the action. The result (a message, warnings, and for a new API key the secret itself) travels
to that page under a single-use handle in the query string (``?done=...``): the page takes it from the
store once, so a reload shows the page without it and a secret is never shown, or made, twice. The
store row is keyed by a hash of the handle and its payload is encrypted with a key derived from the
handle, so the row alone reveals nothing; it is bound to the admin session that caused it and
expires after ``RESULT_LIFETIME``.

Destructive or credential-changing actions first show a confirmation page (a GET, or a POST that
lacks ``confirmed=yes``, only ever shows it); irreversible ones also require the admin to type the key
ID or biller name, and password-equivalent ones the admin's credentials unless they were checked
within ``admin.reauth_window`` (bridge.web.admin.reauth). ``confirm_then_act`` is the one place
these rules live, so every confirmed action gets them.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from cryptography.fernet import Fernet, InvalidToken
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from bridge.errors import BridgeError
from bridge.instance import Instance
from bridge.web.admin import reauth
from bridge.web.admin.page import admin_render
from bridge.web.offload import in_thread

RESULT_PARAM = "done"
RESULT_LIFETIME = timedelta(minutes=10)
CONFIRM_FIELD, TYPED_FIELD = "confirmed", "typed"
_ROW_PREFIX = "admin-result:"


@dataclass(frozen=True, slots=True)
class Result:
    """What an action tells the admin on the page it redirects to."""

    message: str
    warnings: tuple[str, ...] = ()
    secrets: tuple[tuple[str, str, str], ...] = ()  # (element id, label, value): shown once, on one page

    def to_dict(self) -> dict[str, Any]:
        return {"message": self.message, "warnings": list(self.warnings), "secrets": [list(s) for s in self.secrets]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Result:
        return cls(message=str(data["message"]), warnings=tuple(data.get("warnings", ())),
                   secrets=tuple((str(a), str(b), str(c)) for a, b, c in data.get("secrets", ())))

    def secret(self, element_id: str) -> str | None:
        return next((value for eid, _label, value in self.secrets if eid == element_id), None)


def _row_id(handle: str) -> str:
    return _ROW_PREFIX + hashlib.sha256(handle.encode()).hexdigest()


def _box(handle: str) -> Fernet:
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(b"bridge.admin-result.v1\0" + handle.encode()).digest()))


def stash(instance: Instance, sid: str, result: Result) -> str:
    """Keep ``result`` for one page view by the session ``sid``; return the handle that names it."""
    handle = secrets.token_urlsafe(24)
    sealed = _box(handle).encrypt(json.dumps(result.to_dict()).encode()).decode()
    instance.store.put_pending(_row_id(handle), {"sid": sid, "sealed": sealed}, instance.clock() + RESULT_LIFETIME)
    return handle


def take(instance: Instance, sid: str, handle: str) -> Result | None:
    """The result named by ``handle``, once; None when it was taken, expired, forged or another session's."""
    if not handle or len(handle) > 64:
        return None
    data = instance.store.take_pending(_row_id(handle), instance.clock())
    if data is None or not secrets.compare_digest(str(data.get("sid", "")), sid):
        return None
    try:
        return Result.from_dict(json.loads(_box(handle).decrypt(str(data["sealed"]).encode())))
    except (InvalidToken, KeyError, TypeError, ValueError):
        return None


def _sid(request: Request) -> str:
    return str(request.state.admin.sid)


async def taken_result(request: Request) -> Result | None:
    """For a GET page that actions redirect to: the result its ``?done=`` handle names, if still there."""
    handle = request.query_params.get(RESULT_PARAM)
    if not handle:
        return None
    return await in_thread(request, take, request.app.state.instance, _sid(request), handle)


Action = Callable[[], tuple[str, Result]]  # performs the change; returns (page to show, result)


async def act_then_redirect(request: Request, act: Action) -> Response:
    """Run ``act`` off the event loop and answer 303 to its result page (BridgeErrors propagate)."""
    url, result = await in_thread(request, act)
    handle = await in_thread(request, stash, request.app.state.instance, _sid(request), result)
    separator = "&" if "?" in url else "?"
    return RedirectResponse(f"{url}{separator}{urlencode({RESULT_PARAM: handle})}", status_code=303)


@dataclass(frozen=True, slots=True)
class Confirmation:
    """The question a destructive action asks before it runs."""

    title: str  # "Rotate the API key of demo?"
    consequence: str  # what happens, in one or two sentences
    button: str  # the confirming button's label
    cancel: str  # where "Cancel" goes
    typed: str | None = None  # irreversible: the admin must type this (a key ID or a biller name)
    fields: dict[str, str] = field(default_factory=dict)  # hidden fields the action needs (e.g. kid)
    options: tuple[tuple[str, str], ...] = ()  # (checkbox name, label) the admin may tick
    reauth: bool = False  # password-equivalent: credentials again unless recently checked (admin.reauth)


def confirm_page(request: Request, confirmation: Confirmation, *, error: str | None = None,
                 status: int = 200) -> Response:
    ask = confirmation.reauth and not reauth.is_fresh(request)
    return admin_render(request, "admin/confirm.html", status=status, title=confirmation.title,
                        confirmation=confirmation, action=request.url.path, error=error,
                        confirm_field=CONFIRM_FIELD, typed_field=TYPED_FIELD,
                        reauth=ask, reauth_token=ask and reauth.asks_token(request.state.admin),
                        reauth_token_field=reauth.TOKEN_FIELD, reauth_password_field=reauth.PASSWORD_FIELD)


async def confirm_then_act(request: Request, confirmation: Confirmation, act: Action) -> Response:
    """The POST side of a confirmed action: act only when the confirmation page's form was submitted.

    A POST without ``confirmed=yes`` (a stray or scripted click) gets the confirmation page, a wrong
    typed value gets it again with an error (400), so do missing or wrong credentials where the action
    needs a recent sign-in (401, bridge.web.admin.reauth), and a refusal from the action itself (a lifecycle
    guard, say) gets it with that error and the error's status; nothing changes in any of these cases.
    """
    form = await request.form()
    if form.get(CONFIRM_FIELD) != "yes":
        return confirm_page(request, confirmation)
    if confirmation.typed is not None and str(form.get(TYPED_FIELD) or "").strip() != confirmation.typed:
        return confirm_page(request, confirmation, status=400,
                            error=f"Type {confirmation.typed} exactly to confirm; nothing was changed.")
    if confirmation.reauth and not reauth.is_fresh(request):
        refused = await reauth.reauthenticate(request, form)
        if refused is not None:
            return confirm_page(request, confirmation, status=401, error=refused)
    try:
        return await act_then_redirect(request, act)
    except BridgeError as exc:
        return confirm_page(request, confirmation, error=exc.detail, status=exc.status)
