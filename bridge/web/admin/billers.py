"""Admin pages for billers: list, create, edit, rotate the partner API key, and the IC setup sheet.

Every change goes through bridge.billers.validate_biller (the CLI's rules) and leaves a
``biller.changed`` audit row naming the admin. A new or rotated API key is shown once, on the
answer to the POST, and never again.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bridge import audit
from bridge.billers import FLOWS, Biller, biller_from_record, get_biller, issue_api_key, validate_biller
from bridge.cli.biller_options import parse_login_types
from bridge.config import IC_LINK_BASE
from bridge.delegation.tickets import partner_secret
from bridge.errors import BridgeError, ValidationError
from bridge.instance import Instance
from bridge.invoicecloud.links import DEEP_LINKS
from bridge.setup_sheet import colon_hex, setup_sheet
from bridge.store.base import AuditEvent
from bridge.web.admin.auth import admin_page
from bridge.web.admin.ic_fields import apply_ic_form
from bridge.web.admin.views import admin_render
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


def biller_from_form(form: FormData, *, name: str) -> Biller:
    """A Biller from the admin form's fields (validated by validate_biller, as the CLI does)."""
    allowed = tuple(sorted(int(v) for v in form.getlist("allowed_deep_links") if str(v).isdigit()))
    return validate_biller(Biller(
        name=name,
        biller_guid=str(form.get("biller_guid") or "").strip(),
        sp_entity_id=str(form.get("sp_entity_id") or "").strip(),
        link_base=_optional(form, "link_base") or IC_LINK_BASE,
        view_mode=_int(form, "view_mode", 1),
        deep_link=_int(form, "deep_link", 1),
        allowed_deep_links=allowed or tuple(DEEP_LINKS),
        allow_unknown_deep_links=form.get("allow_unknown_deep_links") == "on",
        login_types=parse_login_types(_lines(str(form.get("login_types") or ""))),
        flow=str(form.get("flow") or "sp-initiated"),
        portal_origins=tuple(_lines(str(form.get("portal_origins") or ""))),
        login_url=_optional(form, "login_url"),
        return_url=_optional(form, "return_url"),
        return_site_name=_optional(form, "return_site_name"),
        css_url=_optional(form, "css_url"),
    ))


def _check_sp(instance: Instance, biller: Biller) -> None:
    if instance.registry.find(biller.sp_entity_id) is None:
        raise ValidationError("sp_entity_id", f"no trusted metadata for {biller.sp_entity_id}")


def _record_change(instance: Instance, request: Request, biller: str, detail: str) -> None:
    instance.store.record_audit(AuditEvent(at=instance.clock(), event=audit.BILLER_CHANGED, outcome="ok",
                                           biller=biller, actor=request.state.admin.actor, detail=detail))


def _form_context(instance: Instance, biller: Biller | None, values: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "biller": biller, "sps": [sp.entity_id for sp in instance.registry], "deep_links": DEEP_LINKS,
        "flows": FLOWS, "default_link_base": IC_LINK_BASE,
    }


# --- list ------------------------------------------------------------------------------------------
@admin_page
async def list_billers(request: Request) -> Response:
    instance: Instance = request.app.state.instance
    records = await in_thread(request, instance.store.list_billers)
    return admin_render(request, "admin/billers.html", title="Billers",
                        billers=[biller_from_record(r) for r in records])


# --- create ----------------------------------------------------------------------------------------
@admin_page
async def new_biller(request: Request) -> Response:
    return admin_render(request, "admin/biller_form.html", title="New biller", creating=True,
                        **_form_context(request.app.state.instance, None))


def _create(instance: Instance, request: Request, form: FormData) -> tuple[Biller, str]:
    biller = biller_from_form(form, name=str(form.get("name") or "").strip())
    biller = apply_ic_form(instance.settings, form, biller, None)
    _check_sp(instance, biller)
    store = instance.store
    if store.get_biller(biller.name) is not None:
        raise ValidationError("name", f"a biller named {biller.name!r} already exists")
    if store.get_biller_by_guid(biller.biller_guid) is not None:
        raise ValidationError("biller_guid", f"{biller.biller_guid} is already registered")
    now = instance.clock()
    store.put_biller(biller.record(created_at=now))
    api_key = issue_api_key(store, biller.name, now=now)
    _record_change(instance, request, biller.name, "added in the admin console")
    return biller, api_key


@admin_page
async def create_biller(request: Request) -> Response:
    instance: Instance = request.app.state.instance
    form = await request.form()
    try:
        biller, api_key = await in_thread(request, _create, instance, request, form)
    except BridgeError as exc:
        return admin_render(request, "admin/biller_form.html", status=400, title="New biller", creating=True,
                            error=exc.detail, form=form, **_form_context(instance, None))
    return _show_key(request, instance, biller, api_key, created=True)


def _show_key(request: Request, instance: Instance, biller: Biller, api_key: str, *, created: bool) -> Response:
    return admin_render(request, "admin/api_key.html", title=f"API key for {biller.name}", biller=biller,
                        api_key=api_key, created=created,
                        partner_secret=partner_secret(instance.settings.tickets.secrets[-1], biller.name))


# --- edit ------------------------------------------------------------------------------------------
@admin_page
async def edit_biller(request: Request) -> Response:
    instance: Instance = request.app.state.instance
    biller = await in_thread(request, get_biller, instance.store, request.path_params["name"])
    return admin_render(request, "admin/biller_form.html", title=f"Biller {biller.name}", creating=False,
                        **_form_context(instance, biller))


def _update(instance: Instance, request: Request, name: str, form: FormData) -> Biller:
    current = get_biller(instance.store, name)
    record = instance.store.get_biller(name)
    biller = apply_ic_form(instance.settings, form, biller_from_form(form, name=name), current)
    if biller.sp_entity_id != current.sp_entity_id:
        _check_sp(instance, biller)
    if biller.biller_guid != current.biller_guid:
        other = instance.store.get_biller_by_guid(biller.biller_guid)
        if other is not None and other.name != name:
            raise ValidationError("biller_guid", f"{biller.biller_guid} is already registered")
    instance.store.put_biller(biller.record(created_at=record.created_at if record else None))
    changed = sorted(k for k, v in biller.settings().items() if current.settings().get(k) != v)
    for field in ("biller_guid", "sp_entity_id"):
        if getattr(biller, field) != getattr(current, field):
            changed.append(field)
    _record_change(instance, request, name, "edited in the admin console: " + (", ".join(changed) or "no change"))
    return biller


@admin_page
async def update_biller(request: Request) -> Response:
    instance: Instance = request.app.state.instance
    name = request.path_params["name"]
    form = await request.form()
    try:
        biller = await in_thread(request, _update, instance, request, name, form)
    except ValidationError as exc:
        current = await in_thread(request, get_biller, instance.store, name)
        return admin_render(request, "admin/biller_form.html", status=400, title=f"Biller {name}", creating=False,
                            error=exc.detail, **_form_context(instance, replace(current)))
    return admin_render(request, "admin/biller_form.html", title=f"Biller {biller.name}", creating=False,
                        saved=True, **_form_context(instance, biller))


# --- API key rotation ------------------------------------------------------------------------------
def _rotate(instance: Instance, request: Request, name: str) -> tuple[Biller, str, int]:
    biller = get_biller(instance.store, name)
    now = instance.clock()
    revoked = instance.store.revoke_api_keys(name, now)
    api_key = issue_api_key(instance.store, name, now=now)
    _record_change(instance, request, name, f"API key rotated in the admin console ({revoked} revoked)")
    return biller, api_key, revoked


@admin_page
async def rotate_key(request: Request) -> Response:
    instance: Instance = request.app.state.instance
    biller, api_key, _revoked = await in_thread(request, _rotate, instance, request, request.path_params["name"])
    return _show_key(request, instance, biller, api_key, created=False)


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
    Route("/admin/billers/{name}/rotate-key", rotate_key, methods=["POST"]),
    Route("/admin/billers/{name}/setup", setup, methods=["GET"]),
]
