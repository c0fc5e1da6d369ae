"""The signing-key lifecycle in the admin console: every move goes through bridge.keys.lifecycle.

Same functions, same guards and same audit rows as ``icbridge keys``; the admin is the actor. After
a move this node's key ring is refreshed at once (other nodes follow within their refresh interval).
Generating and staging act at once (nothing is lost: a staged key only joins the metadata); activating
asks first, retiring and purging ask for the key ID to be typed (neither can be undone). Every form
answers with a redirect to the keys page (bridge.web.admin.actions).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bridge.errors import BridgeError, NotFound, ValidationError
from bridge.instance import Instance
from bridge.keys import lifecycle as key_lifecycle
from bridge.keys.ring import PENDING
from bridge.web.admin.actions import (
    Confirmation,
    Result,
    act_then_redirect,
    confirm_page,
    confirm_then_act,
    taken_result,
)
from bridge.web.admin.auth import admin_page
from bridge.web.admin.charts import key_timeline
from bridge.web.admin.page import admin_render
from bridge.web.offload import in_thread

KEYS_PAGE = "/admin/keys"
DIRECT, CONFIRMED = ("generate", "stage"), ("activate", "retire", "purge")


def _page_context(instance: Instance) -> dict[str, Any]:
    now = instance.clock()
    views = key_lifecycle.list_keys(instance.store)
    evidence = {
        v.kid: key_lifecycle.rollover_evidence(instance.store, v.kid, since=v.record.published_at)
        for v in views if v.state == PENDING
    }
    return {"keys": [v.as_dict(now) for v in views], "evidence": evidence,
            "min_overlap_hours": instance.settings.keys.min_overlap / 3600,
            "timeline": key_timeline([(v.record, v.certificate.not_after) for v in views], now=now)}


def _generate(instance: Instance, kid: str, actor: str, force: bool) -> Result:
    record = key_lifecycle.generate(instance.store, instance.settings, now=instance.clock(), actor=actor)
    return Result(f"Generated key {record.kid} (not yet published: stage it next).")


def _stage(instance: Instance, kid: str, actor: str, force: bool) -> Result:
    key_lifecycle.stage(instance.store, kid, now=instance.clock(), actor=actor)
    return Result(f"Key {kid} is staged: published in the metadata, not signing yet.")


def _activate(instance: Instance, kid: str, actor: str, force: bool) -> Result:
    activation = key_lifecycle.activate(instance.store, instance.settings, kid, now=instance.clock(), actor=actor,
                                        force=force)
    previous = ", ".join(activation.previous) or "none"
    return Result(f"Key {kid} now signs; previously active: {previous} (now retiring).", tuple(activation.warnings))


def _retire(instance: Instance, kid: str, actor: str, force: bool) -> Result:
    retirement = key_lifecycle.retire(instance.store, instance.settings, kid, now=instance.clock(), actor=actor,
                                      force=force)
    return Result(f"Key {kid} is retired: no longer published.", retirement.warnings)


def _purge(instance: Instance, kid: str, actor: str, force: bool) -> Result:
    key_lifecycle.purge(instance.store, instance.settings, kid, now=instance.clock(), actor=actor)
    return Result(f"Key {kid} and its files were deleted.")


MOVES: dict[str, Callable[[Instance, str, str, bool], Result]] = {
    "generate": _generate, "stage": _stage, "activate": _activate, "retire": _retire, "purge": _purge,
}


def _confirmation(action: str, kid: str) -> Confirmation:
    cancel = KEYS_PAGE
    if action == "activate":
        return Confirmation(
            title=f"Activate key {kid}?",
            consequence=(f"{kid} signs every assertion from now on and the key signing now becomes retiring. "
                         "Invoice Cloud refuses the sign-ins unless it has imported this key's certificate "
                         "(check who fetched the metadata listing it)."),
            button="Activate key", cancel=cancel, fields={"kid": kid}, reauth=True,
            options=(("force", "force: activate even if it has been published for less than keys.min_overlap"),),
        )
    if action == "retire":
        return Confirmation(
            title=f"Retire key {kid}?",
            consequence=(f"{kid} leaves the metadata and never signs again; its files stay until it is purged. "
                         "A retired key cannot be brought back."),
            button="Retire key", cancel=cancel, typed=kid, fields={"kid": kid},
            options=(("force", "force: retire even within keys.min_overlap of the activation that replaced it"),),
        )
    return Confirmation(
        title=f"Purge key {kid}?",
        consequence=f"The record of {kid} and its key and certificate files are deleted for good.",
        button="Purge key", cancel=cancel, typed=kid, fields={"kid": kid}, reauth=True,
    )


def _action(request: Request) -> str:
    action = str(request.path_params["action"])
    if action not in MOVES:
        raise NotFound(f"no key action {action!r}; one of {', '.join(MOVES)}")
    return action


@admin_page
async def keys_page(request: Request) -> Response:
    context = await in_thread(request, _page_context, request.app.state.instance)
    return admin_render(request, "admin/keys.html", title="Signing keys", result=await taken_result(request),
                        **context)


@admin_page
async def confirm_key_action(request: Request) -> Response:
    action, kid = _action(request), (request.query_params.get("kid") or "").strip()
    if action not in CONFIRMED or not kid:
        raise ValidationError("kid", f"a key to {action}: use the buttons on the keys page")
    await in_thread(request, key_lifecycle.find_key, request.app.state.instance.store, kid)  # 404 if unknown
    return confirm_page(request, _confirmation(action, kid))


@admin_page
async def key_action(request: Request) -> Response:
    instance: Instance = request.app.state.instance
    action = _action(request)
    form = await request.form()
    kid = str(form.get("kid") or "").strip()
    if action != "generate" and not kid:
        raise ValidationError("kid", "required")
    actor, force = request.state.admin.actor, form.get("force") == "on"

    def act() -> tuple[str, Result]:
        result = MOVES[action](instance, kid, actor, force)
        instance.keyring.refresh()
        return KEYS_PAGE, result

    if action not in DIRECT:
        return await confirm_then_act(request, _confirmation(action, kid), act)
    try:
        return await act_then_redirect(request, act)
    except BridgeError as exc:  # a lifecycle guard: the page again, with why, and nothing changed
        context = await in_thread(request, _page_context, instance)
        return admin_render(request, "admin/keys.html", status=exc.status, title="Signing keys", error=exc.detail,
                            **context)


routes = [
    Route(KEYS_PAGE, keys_page, methods=["GET"]),
    Route(KEYS_PAGE + "/{action}", confirm_key_action, methods=["GET"]),
    Route(KEYS_PAGE + "/{action}", key_action, methods=["POST"]),
]
