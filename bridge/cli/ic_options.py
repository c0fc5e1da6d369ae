"""The biller options for IC's web services, shared by ``icbridge billers add`` and ``billers update``,
and ``icbridge billers reseal`` (re-encrypt every stored credential with the newest secret).

``--ic-api-key`` / ``--ic-web-service-key`` take ``VALUE``, ``env:NAME`` or ``file:PATH`` (relative
to the current folder); ``""`` removes the stored key. The value is sealed at once
(bridge.invoicecloud.credentials) and never printed again: output shows its last four characters.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from bridge import audit
from bridge.billers import Biller, biller_from_record, validate_biller
from bridge.cli.common import add_config, add_json, emit, settings_from_args, warn
from bridge.clock import utcnow
from bridge.config import Settings, resolve_secret
from bridge.errors import ValidationError
from bridge.invoicecloud import credentials
from bridge.store import open_store
from bridge.store.base import AuditEvent

_SECRET_OPTIONS = {credentials.API_KEY: "--ic-api-key", credentials.WEB_SERVICE_KEY: "--ic-web-service-key"}


def add_ic_options(parser: argparse.ArgumentParser) -> None:
    """Defaults are None: on ``update`` an option left out keeps the stored value."""
    group = parser.add_argument_group("Invoice Cloud web services")
    for field, option in _SECRET_OPTIONS.items():
        group.add_argument(option, dest=field, default=None, metavar="VALUE|env:NAME|file:PATH",
                           help=f"the biller's {option[2:].replace('-', ' ')} ('' removes it); stored encrypted")
    group.add_argument("--ic-api-base", dest="ic_api_base", default=None, metavar="URL",
                       help="per-biller override of [invoicecloud] api_base ('' removes it)")
    group.add_argument("--payment-webhook", dest="payment_webhook", default=None, metavar="URL",
                       help="where accepted IC PostBacks are delivered, signed ('' removes it)")


def _secret_value(field: str, raw: str | None) -> str | None:
    if raw is None or raw == "":
        return raw
    if not raw.startswith(("env:", "file:")):
        warn(f"{_SECRET_OPTIONS[field]}: an inline key is visible in the process list and shell history; "
             "prefer env:NAME or file:PATH")
    try:
        value = resolve_secret(raw, base_dir=Path.cwd())
    except ValueError as exc:  # names the variable or the file, never a secret
        raise ValidationError(_SECRET_OPTIONS[field], str(exc)) from None
    if not value:
        raise ValidationError(_SECRET_OPTIONS[field], "the referenced value is empty")
    return value


def apply_ic_options(biller: Biller, args: argparse.Namespace, settings: Settings) -> Biller:
    """The biller with the IC options given on the command line applied (others unchanged)."""
    for name in ("ic_api_base", "payment_webhook"):
        value = getattr(args, name, None)
        if value is not None:
            biller = replace(biller, **{name: value.strip() or None})
    box = credentials.secret_box(settings)
    for field in _SECRET_OPTIONS:
        biller = credentials.set_secret(biller, field, _secret_value(field, getattr(args, field, None)), box)
    return validate_biller(biller)


def register_reseal(billers: argparse._SubParsersAction) -> None:
    reseal = billers.add_parser(
        "reseal", help="re-encrypt every stored IC credential with the newest [invoicecloud] secret"
    )
    add_config(reseal)
    add_json(reseal)
    reseal.set_defaults(func=cmd_reseal)


def cmd_reseal(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    box = credentials.secret_box(settings)
    now = utcnow()
    store = open_store(settings)
    resealed: list[str] = []
    try:
        for record in store.list_billers():
            biller = biller_from_record(record)
            updated = credentials.reseal(biller, box)
            if updated is biller:
                continue
            store.put_biller(updated.record())
            store.record_audit(AuditEvent(at=now, event=audit.BILLER_CHANGED, outcome="ok", biller=biller.name,
                                          actor=audit.os_actor(), detail="IC credentials re-encrypted"))
            resealed.append(biller.name)
    finally:
        store.close()
    emit(args, {"resealed": resealed},
         f"Re-encrypted the IC credentials of {len(resealed)} biller(s) with the newest secret.")
    return 0
