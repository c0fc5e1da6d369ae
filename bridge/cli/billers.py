"""``icbridge billers add|list|remove``: registering billers and issuing their partner API keys."""

from __future__ import annotations

import argparse

from bridge import audit
from bridge.billers import Biller, biller_from_record, issue_api_key, validate_biller
from bridge.cli.common import add_config, add_json, emit, settings_from_args
from bridge.cli.ic_options import add_ic_options, apply_ic_options, register_reseal
from bridge.clock import utcnow
from bridge.config import IC_LINK_BASE
from bridge.delegation.tickets import partner_secret
from bridge.errors import BridgeError, NotFound, ValidationError
from bridge.invoicecloud.credentials import masked
from bridge.store import open_store
from bridge.store.base import AuditEvent
from bridge.trust.service_providers import load_registry


def register(sub: argparse._SubParsersAction) -> None:
    billers = sub.add_parser("billers", help="manage billers").add_subparsers(dest="billers_cmd", required=True)
    add = billers.add_parser("add", help="register a biller and print its partner API key")
    add.add_argument("name")
    add.add_argument("--biller-guid", required=True)
    add.add_argument("--sp", required=True, metavar="ENTITY_ID", help="entity ID of the SP (trusted metadata)")
    add.add_argument("--link-base", default=IC_LINK_BASE)
    add.add_argument("--login-type", action="append", default=[], metavar="ROLE=VALUE")
    add.add_argument("--view-mode", type=int, default=1, choices=(0, 1))
    add.add_argument("--portal-origin", action="append", default=[], metavar="ORIGIN")
    add.add_argument("--login-url", default=None)
    add.add_argument("--return-url", default=None)
    add.add_argument("--return-site-name", default=None)
    add.add_argument("--flow", default="sp-initiated", choices=("sp-initiated", "idp-initiated"))
    add.add_argument("--allow-unknown-deep-links", action="store_true")
    add_ic_options(add)
    add_config(add)
    add_json(add)
    add.set_defaults(func=cmd_add)

    listing = billers.add_parser("list", help="list billers")
    add_config(listing)
    add_json(listing)
    listing.set_defaults(func=cmd_list)

    remove = billers.add_parser("remove", help="remove a biller and revoke its API keys")
    remove.add_argument("name")
    add_config(remove)
    add_json(remove)
    remove.set_defaults(func=cmd_remove)

    register_reseal(billers)


def parse_login_types(pairs: list[str]) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for pair in pairs:
        role, sep, value = pair.partition("=")
        if not sep or not role.strip() or not value.strip():
            raise ValidationError("--login-type", f"{pair!r} is not ROLE=VALUE (e.g. owner=1)")
        mapping[role.strip()] = value.strip()
    return mapping or {"owner": "1", "default": "1"}


def cmd_add(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    known = {sp.entity_id for sp in load_registry(settings)}
    simulator_sp = f"{settings.idp.base_url}/simulator/metadata"
    if args.sp not in known and not (settings.simulator.enabled and args.sp == simulator_sp):
        raise BridgeError(f"no trusted metadata for SP {args.sp}: add its metadata file to "
                          f"{settings.path(settings.metadata.dir)} first", code="unknown_sp")
    biller = validate_biller(Biller(
        name=args.name, biller_guid=args.biller_guid, sp_entity_id=args.sp, link_base=args.link_base,
        login_types=parse_login_types(args.login_type), view_mode=args.view_mode,
        portal_origins=tuple(args.portal_origin), login_url=args.login_url, return_url=args.return_url,
        return_site_name=args.return_site_name, flow=args.flow,
        allow_unknown_deep_links=args.allow_unknown_deep_links,
    ))
    biller = apply_ic_options(biller, args, settings)
    now = utcnow()
    store = open_store(settings)
    try:
        store.migrate()
        if store.get_biller(biller.name) is not None:
            raise BridgeError(f"biller {biller.name!r} already exists", code="conflict")
        if store.get_biller_by_guid(biller.biller_guid) is not None:
            raise BridgeError(f"BillerGUID {biller.biller_guid} is already registered", code="conflict")
        store.put_biller(biller.record(created_at=now))
        api_key = issue_api_key(store, biller.name, now=now)
        store.record_audit(AuditEvent(at=now, event=audit.BILLER_CHANGED, outcome="ok", biller=biller.name,
                                      actor=audit.os_actor(), detail="added"))
    finally:
        store.close()
    secret = partner_secret(settings.tickets.secrets[-1], biller.name)
    emit(args, {"biller": biller.name, "api_key": api_key, "biller_guid": biller.biller_guid,
                "sp": biller.sp_entity_id, "partner_secret": secret},
         f"Biller {biller.name} added.\nPartner API key (shown once): {api_key}\n"
         f"Partner ticket secret (for partner-signed tickets): {secret}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    store = open_store(settings)
    try:
        billers = [biller_from_record(r) for r in store.list_billers()]
    finally:
        store.close()
    rows = [{"name": b.name, "biller_guid": b.biller_guid, "sp": b.sp_entity_id, "view_mode": b.view_mode,
             "login_types": b.login_types, "link_base": b.link_base, **masked(b)} for b in billers]
    text = "\n".join(f"{b.name:20} {b.biller_guid}  {b.sp_entity_id}" for b in billers) or "no billers"
    emit(args, {"billers": rows}, text)
    return 0


def cmd_remove(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    now = utcnow()
    store = open_store(settings)
    try:
        revoked = store.revoke_api_keys(args.name, now)
        if not store.delete_biller(args.name):
            raise NotFound(f"no biller named {args.name!r}")
        store.record_audit(AuditEvent(at=now, event=audit.BILLER_CHANGED, outcome="ok", biller=args.name,
                                      actor=audit.os_actor(), detail="removed"))
    finally:
        store.close()
    emit(args, {"biller": args.name, "removed": True, "revoked_keys": revoked},
         f"Biller {args.name} removed; {revoked} API key(s) revoked.")
    return 0
