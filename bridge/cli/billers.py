"""``icbridge billers add|update|list|remove``: registering billers and issuing their partner API keys.

``add`` and ``update`` take the same options: the table in bridge.cli.biller_options and IC's web-service
credentials (bridge.cli.ic_options, which seals secrets and so needs the instance's settings).
"""

from __future__ import annotations

import argparse
from dataclasses import replace

from bridge import audit
from bridge.billers import (
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
from bridge.cli.biller_options import add_biller_options, biller_changes
from bridge.cli.common import add_config, add_json, emit, settings_from_args, table
from bridge.cli.ic_options import add_ic_options, apply_ic_options, register_reseal
from bridge.clock import utcnow
from bridge.config import Settings
from bridge.delegation.launches import check_relay_state_fits
from bridge.delegation.tickets import partner_secret
from bridge.endpoints import check_endpoint_change, expand_own
from bridge.errors import BridgeError
from bridge.invoicecloud.credentials import masked
from bridge.store import open_store
from bridge.store.base import AuditEvent, Store
from bridge.trust.service_providers import load_registry


def register(sub: argparse._SubParsersAction) -> None:
    billers = sub.add_parser("billers", help="manage billers").add_subparsers(
        dest="billers_cmd", metavar="COMMAND", required=True)
    add = billers.add_parser("add", help="register a biller and print its partner API key")
    add.add_argument("name", metavar="NAME", help="short name: lower-case letters, digits and dashes")
    add_biller_options(add, updating=False)
    add_ic_options(add)
    add_config(add)
    add_json(add)
    add.set_defaults(func=cmd_add)

    update = billers.add_parser("update", help="change a biller in place (only the options given)")
    update.add_argument("name", metavar="NAME", help="the biller to change")
    add_biller_options(update, updating=True)
    add_ic_options(update)
    add_config(update)
    add_json(update)
    update.set_defaults(func=cmd_update)

    listing = billers.add_parser("list", help="list billers with their SP and LoginType mapping")
    add_config(listing)
    add_json(listing)
    listing.set_defaults(func=cmd_list)

    rotate = billers.add_parser("rotate-key", help="revoke a biller's partner API keys and print a new one "
                                                   "(the way back from a lost key)")
    rotate.add_argument("name", metavar="NAME", help="the biller whose key is replaced")
    add_config(rotate)
    add_json(rotate)
    rotate.set_defaults(func=cmd_rotate_key)

    remove = billers.add_parser("remove", help="remove a biller and revoke its API keys")
    remove.add_argument("name", metavar="NAME", help="the biller to remove")
    add_config(remove)
    add_json(remove)
    remove.set_defaults(func=cmd_remove)

    register_reseal(billers)


def check_sp_trusted(settings: Settings, entity_id: str) -> None:
    """A biller may only point at an SP whose metadata is trusted (or the built-in simulator's)."""
    known = {sp.entity_id for sp in load_registry(settings)}
    if settings.simulator.enabled:
        known.add(settings.idp.base_url + SIMULATOR_SP_PATH)
    if entity_id not in known:
        raise BridgeError(f"no trusted metadata for SP {entity_id}: add its metadata file to "
                          f"{settings.path(settings.metadata.dir)} first (see `icbridge sp list`)", code="unknown_sp")


def _record(store: Store, name: str, detail: str) -> None:
    store.record_audit(AuditEvent(at=utcnow(), event=audit.BILLER_CHANGED, outcome="ok", biller=name,
                                  actor=audit.os_actor(), detail=detail))


def cmd_add(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    changes = biller_changes(args)
    changes.setdefault("link_base", default_link_base(settings.idp.base_url, changes["sp_entity_id"]))
    biller = apply_ic_options(validate_biller(expand_own(settings, Biller(name=args.name, **changes))), args,
                              settings)
    check_sp_trusted(settings, biller.sp_entity_id)
    check_relay_state_fits(settings, biller)
    now = utcnow()
    store = open_store(settings)
    try:
        store.migrate()
        if store.get_biller(biller.name) is not None:
            raise BridgeError(f"biller {biller.name!r} already exists (change it with `icbridge billers update`)",
                              code="conflict")
        check_unique_guid(store, biller)
        store.put_biller(biller.record(created_at=now))
        api_key = issue_api_key(store, biller.name, now=now)
        _record(store, biller.name, "added")
    finally:
        store.close()
    secret = partner_secret(settings.tickets.secrets[-1], biller.name)
    emit(args, {"biller": biller.name, "api_key": api_key, "biller_guid": biller.biller_guid,
                "sp": biller.sp_entity_id, "partner_secret": secret},
         f"Biller {biller.name} added.\nPartner API key (shown once): {api_key}\n"
         f"Partner ticket secret (for partner-signed tickets): {secret}")
    return 0


def cmd_update(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    changes = biller_changes(args)
    store = open_store(settings)
    try:
        store.migrate()
        current = get_biller(store, args.name)
        biller = apply_ic_options(validate_biller(expand_own(settings, replace(current, **changes))), args, settings)
        check_endpoint_change(store, current, biller)
        if biller.sp_entity_id != current.sp_entity_id:
            check_sp_trusted(settings, biller.sp_entity_id)
        check_relay_state_fits(settings, biller)
        check_unique_guid(store, biller)
        changed = changed_fields(current, biller)
        if changed:
            store.put_biller(biller.record())  # no created_at: the stored one is kept
            _record(store, biller.name, "updated: " + ", ".join(changed))
    finally:
        store.close()
    emit(args, {"biller": biller.name, "changed": changed, "settings": _row(biller)},
         f"Biller {biller.name} updated: {', '.join(changed)}." if changed else f"Biller {biller.name}: no change.")
    return 0


def _login_types(biller: Biller) -> str:
    return ", ".join(f"{role}={value}" for role, value in sorted(biller.login_types.items()))


def _row(biller: Biller) -> dict[str, object]:
    return {"name": biller.name, "biller_guid": biller.biller_guid, "sp": biller.sp_entity_id,
            "link_base": biller.link_base, "view_mode": biller.view_mode, "deep_link": biller.deep_link,
            "flow": biller.flow, "login_types": dict(biller.login_types),
            "portal_origins": list(biller.portal_origins), "sso_method": biller.sso_method,
            "rest_login_type_id": biller.rest_login_type_id, "rest_delivery": biller.rest_delivery,
            "css_url": biller.css_url, "return_url": biller.return_url, "return_site_name": biller.return_site_name,
            "idp_endpoints": biller.idp_endpoints, "idp_entity_id": biller.idp_entity_id, **masked(biller)}


def cmd_list(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    store = open_store(settings)
    try:
        store.migrate()
        billers = [biller_from_record(r) for r in store.list_billers()]
    finally:
        store.close()
    text = table(("NAME", "BILLER GUID", "SP", "VIEW", "FLOW", "LOGIN TYPES (role=LoginType)"),
                 [(b.name, b.biller_guid, b.sp_entity_id, str(b.view_mode), b.flow, _login_types(b))
                  for b in billers]) if billers else "no billers (add one with `icbridge billers add`)"
    emit(args, {"billers": [_row(b) for b in billers]}, text)
    return 0


def cmd_rotate_key(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    store = open_store(settings)
    try:
        store.migrate()
        api_key, revoked = rotate_api_key(store, args.name, now=utcnow())
        _record(store, args.name, f"API key rotated ({revoked} revoked)")
    finally:
        store.close()
    emit(args, {"biller": args.name, "api_key": api_key, "revoked_keys": revoked},
         f"Partner API key of {args.name} (shown once): {api_key}\n{revoked} old key(s) revoked: calls with them "
         "now answer 401.")
    return 0


def cmd_remove(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    now = utcnow()
    store = open_store(settings)
    try:
        revoked = remove_biller(store, args.name, now=now, actor=audit.os_actor())
    finally:
        store.close()
    emit(args, {"biller": args.name, "removed": True, "revoked_keys": revoked},
         f"Biller {args.name} removed; {revoked} API key(s) revoked.")
    return 0
