"""The signing-key lifecycle in the admin console: every move goes through bridge.keys.lifecycle.

Same functions, same guards and same audit rows as ``icbridge keys``; the admin is the actor. After
a move this node's key ring is refreshed at once (other nodes follow within their refresh interval).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bridge.errors import BridgeError, ValidationError
from bridge.instance import Instance
from bridge.keys import lifecycle as key_lifecycle
from bridge.keys.ring import PENDING
from bridge.web.admin.auth import admin_page
from bridge.web.admin.views import admin_render
from bridge.web.offload import in_thread

ACTIONS = ("generate", "stage", "activate", "retire", "purge")


def _page_context(instance: Instance) -> dict[str, Any]:
    now = instance.clock()
    views = key_lifecycle.list_keys(instance.store)
    evidence = {
        v.kid: key_lifecycle.rollover_evidence(instance.store, v.kid, since=v.record.published_at)
        for v in views if v.state == PENDING
    }
    return {"keys": [v.as_dict(now) for v in views], "evidence": evidence,
            "min_overlap_hours": instance.settings.keys.min_overlap / 3600}


def _apply(instance: Instance, action: str, kid: str, *, actor: str, force: bool) -> tuple[str, list[str]]:
    store, settings, now = instance.store, instance.settings, instance.clock()
    warnings: list[str] = []
    if action == "generate":
        record = key_lifecycle.generate(store, settings, now=now, actor=actor)
        message = f"Generated key {record.kid} (not yet published: stage it next)."
    elif action == "stage":
        key_lifecycle.stage(store, kid, now=now, actor=actor)
        message = f"Key {kid} is staged: published in the metadata, not signing yet."
    elif action == "activate":
        activation = key_lifecycle.activate(store, settings, kid, now=now, actor=actor, force=force)
        warnings = list(activation.warnings)
        previous = ", ".join(activation.previous) or "none"
        message = f"Key {kid} now signs; previously active: {previous} (now retiring)."
    elif action == "retire":
        key_lifecycle.retire(store, kid, now=now, actor=actor)
        message = f"Key {kid} is retired: no longer published."
    else:
        key_lifecycle.purge(store, settings, kid, now=now, actor=actor)
        message = f"Key {kid} and its files were deleted."
    instance.keyring.refresh()
    return message, warnings


@admin_page
async def keys_page(request: Request) -> Response:
    context = await in_thread(request, _page_context, request.app.state.instance)
    return admin_render(request, "admin/keys.html", title="Signing keys", **context)


@admin_page
async def key_action(request: Request) -> Response:
    instance: Instance = request.app.state.instance
    action = request.path_params["action"]
    form = await request.form()
    kid = str(form.get("kid") or "").strip()
    force = form.get("force") == "on"
    status, message, warnings, error = 200, None, [], None
    try:
        if action not in ACTIONS:
            raise ValidationError("action", f"one of {', '.join(ACTIONS)}")
        if action != "generate" and not kid:
            raise ValidationError("kid", "required")
        message, warnings = await in_thread(request, _apply, instance, action, kid,
                                                    actor=request.state.admin.actor, force=force)
    except BridgeError as exc:
        status, error = exc.status, exc.detail
    context = await in_thread(request, _page_context, instance)
    return admin_render(request, "admin/keys.html", status=status, title="Signing keys", message=message,
                        warnings=warnings, error=error, **context)



routes = [
    Route("/admin/keys", keys_page, methods=["GET"]),
    Route("/admin/keys/{action}", key_action, methods=["POST"]),
]
