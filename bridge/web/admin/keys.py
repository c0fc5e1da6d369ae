"""The signing-key lifecycle in the admin console: every move goes through bridge.keys.lifecycle.

Same functions, same guards and same audit rows as ``icbridge keys``; the admin is the actor. After
a move this node's key ring is refreshed at once (other nodes follow within their refresh interval).
Generating and staging act at once (nothing is lost: a staged key only joins the metadata); activating
asks first, retiring and purging ask for the key ID to be typed (neither can be undone). Every form
answers with a redirect to the keys page (bridge.web.admin.actions). The page shows one key ring at
a time: the deployment's, or a biller's own (``?biller=NAME``; docs/per-biller.md); every form carries it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bridge.endpoints import biller_base
from bridge.errors import BridgeError, NotFound, ValidationError
from bridge.instance import Instance
from bridge.keys import lifecycle as key_lifecycle
from bridge.keys.ring import DEPLOYMENT_RING, PENDING
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


def _page(ring: str) -> str:
    return KEYS_PAGE + (f"?{urlencode({'biller': ring})}" if ring else "")


def _ring(instance: Instance, value: object) -> str:
    """The key ring a request names (``biller``): the deployment's when absent; an unknown biller is a 404."""
    ring = str(value or DEPLOYMENT_RING).strip()
    key_lifecycle.check_ring(instance.store, ring)
    return ring


def _page_context(instance: Instance, ring: str = DEPLOYMENT_RING) -> dict[str, Any]:
    now = instance.clock()
    views = key_lifecycle.list_keys(instance.store, ring)
    evidence = {
        v.kid: key_lifecycle.rollover_evidence(instance.store, v.kid, since=v.record.published_at, ring=ring)
        for v in views if v.state == PENDING
    }
    return {"keys": [v.as_dict(now) for v in views], "evidence": evidence, "ring": ring,
            "billers": [r.name for r in instance.store.list_billers()],
            "ring_metadata_url": f"{biller_base(instance.settings.idp.base_url, ring)}/metadata" if ring else "",
            "min_overlap_hours": instance.settings.keys.min_overlap / 3600,
            "timeline": key_timeline([(v.record, v.certificate.not_after) for v in views], now=now)}


def _generate(instance: Instance, kid: str, actor: str, force: bool, ring: str) -> Result:
    record = key_lifecycle.generate(instance.store, instance.settings, now=instance.clock(), actor=actor, ring=ring)
    return Result(f"Generated key {record.kid} (not yet published: stage it next).")


def _stage(instance: Instance, kid: str, actor: str, force: bool, ring: str) -> Result:
    key_lifecycle.stage(instance.store, kid, now=instance.clock(), actor=actor, ring=ring)
    return Result(f"Key {kid} is staged: published in the metadata, not signing yet.")


def _activate(instance: Instance, kid: str, actor: str, force: bool, ring: str) -> Result:
    activation = key_lifecycle.activate(instance.store, instance.settings, kid, now=instance.clock(), actor=actor,
                                        force=force, ring=ring)
    previous = ", ".join(activation.previous) or "none"
    return Result(f"Key {kid} now signs; previously active: {previous} (now retiring).", tuple(activation.warnings))


def _retire(instance: Instance, kid: str, actor: str, force: bool, ring: str) -> Result:
    retirement = key_lifecycle.retire(instance.store, instance.settings, kid, now=instance.clock(), actor=actor,
                                      force=force, ring=ring)
    return Result(f"Key {kid} is retired: no longer published.", retirement.warnings)


def _purge(instance: Instance, kid: str, actor: str, force: bool, ring: str) -> Result:
    key_lifecycle.purge(instance.store, instance.settings, kid, now=instance.clock(), actor=actor, ring=ring)
    return Result(f"Key {kid} and its files were deleted.")


MOVES: dict[str, Callable[[Instance, str, str, bool, str], Result]] = {
    "generate": _generate, "stage": _stage, "activate": _activate, "retire": _retire, "purge": _purge,
}


def _confirmation(action: str, kid: str, ring: str) -> Confirmation:
    cancel = _page(ring)
    fields = {"kid": kid, "biller": ring}
    if action == "activate":
        return Confirmation(
            title=f"Activate key {kid}?",
            consequence=(f"{kid} signs every assertion from now on and the key signing now becomes retiring. "
                         "Invoice Cloud refuses the sign-ins unless it has imported this key's certificate "
                         "(check who fetched the metadata listing it)."),
            button="Activate key", cancel=cancel, fields=fields, reauth=True,
            options=(("force", "force: activate even if it has been published for less than keys.min_overlap"),),
        )
    if action == "retire":
        return Confirmation(
            title=f"Retire key {kid}?",
            consequence=(f"{kid} leaves the metadata and never signs again; its files stay until it is purged. "
                         "A retired key cannot be brought back."),
            button="Retire key", cancel=cancel, typed=kid, fields=fields,
            options=(("force", "force: retire even within keys.min_overlap of the activation that replaced it"),),
        )
    return Confirmation(
        title=f"Purge key {kid}?",
        consequence=f"The record of {kid} and its key and certificate files are deleted for good.",
        button="Purge key", cancel=cancel, typed=kid, fields=fields, reauth=True,
    )


def _action(request: Request) -> str:
    action = str(request.path_params["action"])
    if action not in MOVES:
        raise NotFound(f"no key action {action!r}; one of {', '.join(MOVES)}")
    return action


@admin_page
async def keys_page(request: Request) -> Response:
    instance: Instance = request.app.state.instance
    ring = await in_thread(request, _ring, instance, request.query_params.get("biller"))
    context = await in_thread(request, _page_context, instance, ring)
    return admin_render(request, "admin/keys.html", title="Signing keys", result=await taken_result(request),
                        **context)


@admin_page
async def confirm_key_action(request: Request) -> Response:
    action, kid = _action(request), (request.query_params.get("kid") or "").strip()
    if action not in CONFIRMED or not kid:
        raise ValidationError("kid", f"a key to {action}: use the buttons on the keys page")
    instance: Instance = request.app.state.instance
    ring = await in_thread(request, _ring, instance, request.query_params.get("biller"))
    await in_thread(request, key_lifecycle.find_key, instance.store, kid, ring)  # 404 if unknown
    return confirm_page(request, _confirmation(action, kid, ring))


@admin_page
async def key_action(request: Request) -> Response:
    instance: Instance = request.app.state.instance
    action = _action(request)
    form = await request.form()
    kid = str(form.get("kid") or "").strip()
    if action != "generate" and not kid:
        raise ValidationError("kid", "required")
    actor, force = request.state.admin.actor, form.get("force") == "on"
    ring = await in_thread(request, _ring, instance, form.get("biller"))

    def act() -> tuple[str, Result]:
        result = MOVES[action](instance, kid, actor, force, ring)
        instance.keyring.refresh()
        return _page(ring), result

    if action not in DIRECT:
        return await confirm_then_act(request, _confirmation(action, kid, ring), act)
    try:
        return await act_then_redirect(request, act)
    except BridgeError as exc:  # a lifecycle guard: the page again, with why, and nothing changed
        context = await in_thread(request, _page_context, instance, ring)
        return admin_render(request, "admin/keys.html", status=exc.status, title="Signing keys", error=exc.detail,
                            **context)


routes = [
    Route(KEYS_PAGE, keys_page, methods=["GET"]),
    Route(KEYS_PAGE + "/{action}", confirm_key_action, methods=["GET"]),
    Route(KEYS_PAGE + "/{action}", key_action, methods=["POST"]),
]
