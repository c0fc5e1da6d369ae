"""Admin pages for billers: list, create, edit, rotate the partner API key, and the IC setup sheet.

Every change goes through bridge.billers.validate_biller (the CLI's rules) and leaves a
``biller.changed`` audit row naming the admin. Every form answers with a redirect
(bridge.web.admin.actions); a new or rotated API key is shown once, on the page that redirect leads
to, and never again. Rotating the key and removing the biller ask first, with the name typed.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bridge import audit
from bridge.billers import (
    FLOWS,
    SIMULATOR_SP_PATH,
    Biller,
    biller_from_record,
    changed_fields,
    check_unique_guid,
    default_link_base,
    get_biller,
    issue_api_key,
    remove_biller,
    rotate_api_key,
    validate_biller,
)
from bridge.cli.biller_options import parse_login_types
from bridge.config import IC_LINK_BASE
from bridge.delegation.launches import check_relay_state_fits
from bridge.delegation.tickets import partner_secret
from bridge.errors import BridgeError, ValidationError
from bridge.instance import Instance
from bridge.invoicecloud.links import DEEP_LINKS
from bridge.setup_sheet import colon_hex, setup_sheet
from bridge.store.base import AuditEvent
from bridge.web.admin.actions import (
    Confirmation,
    Result,
    act_then_redirect,
    confirm_page,
    confirm_then_act,
    taken_result,
)
from bridge.web.admin.auth import admin_page
from bridge.web.admin.ic_fields import apply_ic_form
from bridge.web.admin.page import admin_render
from bridge.web.offload import in_thread


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.replace(",", "\n").splitlines() if line.strip()]


def _optional(form: FormData, name: str) -> str | None:
    value = str(form.get(name) or "").strip()
    return value or None


def _int(form: FormData, name: str, default: int) -> int:
    value = str(form.get(name) or "").strip()
    if not value:
        return default
    if not value.isdigit():
        raise ValidationError(name, "must be a number")
    return int(value)


def biller_from_form(form: FormData, *, name: str, base_url: str) -> Biller:
    """A Biller from the admin form's fields (validated by validate_biller, as the CLI does)."""
    allowed = tuple(sorted(int(str(v)) for v in form.getlist("allowed_deep_links") if str(v).isdigit()))
    sp_entity_id = str(form.get("sp_entity_id") or "").strip()
    return validate_biller(Biller(
        name=name,
        biller_guid=str(form.get("biller_guid") or "").strip(),
        sp_entity_id=sp_entity_id,
        link_base=_optional(form, "link_base") or default_link_base(base_url, sp_entity_id),
        view_mode=_int(form, "view_mode", 1),
        deep_link=_int(form, "deep_link", 1),
        allowed_deep_links=allowed or tuple(DEEP_LINKS),
        allow_unknown_deep_links=form.get("allow_unknown_deep_links") == "on",
        login_types=parse_login_types(_lines(str(form.get("login_types") or ""))),
        flow=str(form.get("flow") or "sp-initiated"),
        idp_fallback=form.get("idp_fallback") == "on",
        portal_origins=tuple(_lines(str(form.get("portal_origins") or ""))),
        login_url=_optional(form, "login_url"),
        return_url=_optional(form, "return_url"),
        return_site_name=_optional(form, "return_site_name"),
        css_url=_optional(form, "css_url"),
        sso_method=str(form.get("sso_method") or "saml"),
        rest_login_type_id=_int(form, "rest_login_type_id", 1),
        rest_delivery=str(form.get("rest_delivery") or "post"),
    ))


def _check_sp(instance: Instance, biller: Biller) -> None:
    if instance.registry.find(biller.sp_entity_id) is None:
        raise ValidationError("sp_entity_id", f"no trusted metadata for {biller.sp_entity_id}")
    check_relay_state_fits(instance.settings, biller)


def _record_change(instance: Instance, request: Request, biller: str, detail: str) -> None:
    instance.store.record_audit(AuditEvent(at=instance.clock(), event=audit.BILLER_CHANGED, outcome="ok",
                                           biller=biller, actor=request.state.admin.actor, detail=detail))


def _form_context(instance: Instance, biller: Biller | None) -> dict[str, Any]:
    base = instance.settings.idp.base_url
    simulated = instance.settings.simulator.enabled
    return {
        "biller": biller, "sps": [sp.entity_id for sp in instance.registry], "deep_links": DEEP_LINKS,
        "flows": FLOWS, "default_link_base": IC_LINK_BASE,
        "simulator_link_base": default_link_base(base, base + SIMULATOR_SP_PATH) if simulated else None,
    }


# --- list ------------------------------------------------------------------------------------------
@admin_page
async def list_billers(request: Request) -> Response:
    instance: Instance = request.app.state.instance
    records = await in_thread(request, instance.store.list_billers)
    return admin_render(request, "admin/billers.html", title="Billers", result=await taken_result(request),
                        billers=[biller_from_record(r) for r in records])


# --- create ----------------------------------------------------------------------------------------
@admin_page
async def new_biller(request: Request) -> Response:
    return admin_render(request, "admin/biller_form.html", title="New biller", creating=True,
                        **_form_context(request.app.state.instance, None))


def _create(instance: Instance, request: Request, form: FormData) -> tuple[Biller, str]:
    biller = biller_from_form(form, name=str(form.get("name") or "").strip(), base_url=instance.settings.idp.base_url)
    biller = apply_ic_form(instance.settings, form, biller, None)
    _check_sp(instance, biller)
    store = instance.store
    if store.get_biller(biller.name) is not None:
        raise ValidationError("name", f"a biller named {biller.name!r} already exists")
    check_unique_guid(store, biller)
    now = instance.clock()
    store.put_biller(biller.record(created_at=now))
    instance.store_cache.invalidate_billers()  # at once here; other nodes within store.cache_refresh
    api_key = issue_api_key(store, biller.name, now=now)
    _record_change(instance, request, biller.name, "added in the admin console")
    return biller, api_key


@admin_page
async def create_biller(request: Request) -> Response:
    instance: Instance = request.app.state.instance
    form = await request.form()

    def act() -> tuple[str, Result]:
        biller, api_key = _create(instance, request, form)
        return _key_page(biller.name), _key_result(instance, biller, api_key, f"Biller {biller.name} created.")

    try:
        return await act_then_redirect(request, act)
    except BridgeError as exc:
        return admin_render(request, "admin/biller_form.html", status=400, title="New biller", creating=True,
                            error=exc.detail, form=form, **_form_context(instance, None))


def _key_page(name: str) -> str:
    return f"/admin/billers/{name}/api-key"


def _key_result(instance: Instance, biller: Biller, api_key: str, message: str) -> Result:
    """The new partner API key (and the ticket secret it pairs with) for the one page that shows it."""
    secret = partner_secret(instance.settings.tickets.secrets[-1], biller.name)
    return Result(message=message, secrets=(("api-key", "partner API key", api_key),
                                            ("partner-secret", "partner ticket secret", secret)))


@admin_page
async def show_key(request: Request) -> Response:
    """The one view of a new API key; a reload (or a later visit) says it is gone and how to get another."""
    instance: Instance = request.app.state.instance
    biller = await in_thread(request, get_biller, instance.store, request.path_params["name"])
    result = await taken_result(request)
    return admin_render(request, "admin/api_key.html", title=f"API key of {biller.name}", biller=biller,
                        shown=result)


# --- edit ------------------------------------------------------------------------------------------
@admin_page
async def edit_biller(request: Request) -> Response:
    instance: Instance = request.app.state.instance
    biller = await in_thread(request, get_biller, instance.store, request.path_params["name"])
    return admin_render(request, "admin/biller_form.html", title=f"Biller {biller.name}", creating=False,
                        result=await taken_result(request), **_form_context(instance, biller))


def _update(instance: Instance, request: Request, name: str, form: FormData) -> Biller:
    current = get_biller(instance.store, name)
    record = instance.store.get_biller(name)
    edited = biller_from_form(form, name=name, base_url=instance.settings.idp.base_url)
    biller = apply_ic_form(instance.settings, form, edited, current)
    if biller.sp_entity_id != current.sp_entity_id:
        _check_sp(instance, biller)
    check_relay_state_fits(instance.settings, biller)
    check_unique_guid(instance.store, biller)
    instance.store.put_biller(biller.record(created_at=record.created_at if record else None))
    instance.store_cache.invalidate_billers()
    changed = changed_fields(current, biller)  # the same names as `icbridge billers update` reports
    _record_change(instance, request, name, "edited in the admin console: " + (", ".join(changed) or "no change"))
    return biller


@admin_page
async def update_biller(request: Request) -> Response:
    instance: Instance = request.app.state.instance
    name = request.path_params["name"]
    form = await request.form()

    def act() -> tuple[str, Result]:
        biller = _update(instance, request, name, form)
        return f"/admin/billers/{biller.name}", Result(message=f"Saved biller {biller.name}.")

    try:
        return await act_then_redirect(request, act)
    except ValidationError as exc:
        current = await in_thread(request, get_biller, instance.store, name)
        return admin_render(request, "admin/biller_form.html", status=400, title=f"Biller {name}", creating=False,
                            error=exc.detail, **_form_context(instance, replace(current)))


# --- API key rotation (confirmed: it revokes the key the partner uses now) ---------------------------
def _rotation(name: str) -> Confirmation:
    return Confirmation(
        title=f"Rotate the API key of {name}?",
        consequence=(f"Every current partner API key of {name} stops working at once; the partner's portal "
                     "cannot sign payers in until it has the new key, which is shown once on the next page."),
        button="Rotate API key", cancel=f"/admin/billers/{name}", typed=name, reauth=True,
    )


def _rotate(instance: Instance, request: Request, name: str) -> tuple[str, Result]:
    biller = get_biller(instance.store, name)
    api_key, revoked = rotate_api_key(instance.store, name, now=instance.clock())  # as `icbridge billers rotate-key`
    _record_change(instance, request, name, f"API key rotated in the admin console ({revoked} revoked)")
    return _key_page(name), _key_result(instance, biller, api_key,
                                        f"API key of {name} rotated; {revoked} old key(s) revoked.")


@admin_page
async def confirm_rotate_key(request: Request) -> Response:
    biller = await in_thread(request, get_biller, request.app.state.instance.store, request.path_params["name"])
    return confirm_page(request, _rotation(biller.name))


@admin_page
async def rotate_key(request: Request) -> Response:
    instance: Instance = request.app.state.instance
    biller = await in_thread(request, get_biller, instance.store, request.path_params["name"])
    return await confirm_then_act(request, _rotation(biller.name), lambda: _rotate(instance, request, biller.name))


# --- removal (confirmed by typing the name: it cannot be undone) ------------------------------------
def _removal(name: str) -> Confirmation:
    return Confirmation(
        title=f"Remove biller {name}?",
        consequence=(f"{name} is deleted with its settings and every partner API key of it is revoked: its payers "
                     "can no longer be signed in to Invoice Cloud through this bridge. Its audit trail stays."),
        button="Remove biller", cancel=f"/admin/billers/{name}", typed=name, reauth=True,
    )


def _remove(instance: Instance, request: Request, name: str) -> tuple[str, Result]:
    try:
        revoked = remove_biller(instance.store, name, now=instance.clock(), actor=request.state.admin.actor)
    finally:  # even when removal failed part way: the next poll reloads whatever the store holds
        instance.store_cache.invalidate_billers()
    return "/admin/billers", Result(message=f"Biller {name} removed; {revoked} API key(s) revoked.")


@admin_page
async def confirm_remove(request: Request) -> Response:
    biller = await in_thread(request, get_biller, request.app.state.instance.store, request.path_params["name"])
    return confirm_page(request, _removal(biller.name))


@admin_page
async def remove(request: Request) -> Response:
    instance: Instance = request.app.state.instance
    biller = await in_thread(request, get_biller, instance.store, request.path_params["name"])
    return await confirm_then_act(request, _removal(biller.name), lambda: _remove(instance, request, biller.name))


# --- IC setup sheet (bridge.setup_sheet builds it; the CLI prints the same) ----------------------
@admin_page
async def setup(request: Request) -> Response:
    instance: Instance = request.app.state.instance
    biller = await in_thread(request, get_biller, instance.store, request.path_params["name"])
    sheet = await in_thread(request, setup_sheet, instance.settings, instance.store, biller)
    return admin_render(request, "admin/setup_sheet.html", title=f"IC setup sheet: {biller.name}", biller=biller,
                        sheet=sheet, fingerprint=colon_hex(sheet["certificate_sha256"] or ""))


routes = [
    Route("/admin/billers", list_billers, methods=["GET"]),
    Route("/admin/billers/new", new_biller, methods=["GET"]),
    Route("/admin/billers/new", create_biller, methods=["POST"]),
    Route("/admin/billers/{name}", edit_biller, methods=["GET"]),
    Route("/admin/billers/{name}", update_biller, methods=["POST"]),
    Route("/admin/billers/{name}/api-key", show_key, methods=["GET"]),
    Route("/admin/billers/{name}/rotate-key", confirm_rotate_key, methods=["GET"]),
    Route("/admin/billers/{name}/rotate-key", rotate_key, methods=["POST"]),
    Route("/admin/billers/{name}/remove", confirm_remove, methods=["GET"]),
    Route("/admin/billers/{name}/remove", remove, methods=["POST"]),
    Route("/admin/billers/{name}/setup", setup, methods=["GET"]),
]
