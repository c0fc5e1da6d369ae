"""``icbridge keys list|generate|stage|activate|retire|purge``: the signing-key lifecycle (bridge.keys.lifecycle).

Each command changes at most one step of the lifecycle; a refused step
prints one ``icbridge: error:`` line, exits 1 and leaves the key set as it was.
Running nodes pick up a transition within bridge.web.app.KEY_REFRESH_SECONDS.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from bridge import audit
from bridge.cli.common import add_config, add_json, emit, settings_from_args, warn
from bridge.clock import utcnow
from bridge.config import Settings
from bridge.errors import KeyLifecycleError, ValidationError
from bridge.keys import lifecycle as key_lifecycle
from bridge.keys.material import Certificate
from bridge.store import open_store
from bridge.store.base import Store


def register(sub: argparse._SubParsersAction) -> None:
    keys = sub.add_parser("keys", help="signing-key lifecycle").add_subparsers(
        dest="keys_cmd", metavar="COMMAND", required=True)

    _command(keys, "list", "list the signing keys and their states", cmd_list)

    generate = _command(keys, "generate", "make a new key+certificate (or import a PEM pair); not yet published",
                        cmd_generate)
    generate.add_argument("--size", type=int, default=None, help="RSA key size in bits (default: keys.size)")
    generate.add_argument("--validity-days", type=int, default=None,
                          help="certificate validity (default: keys.validity_days)")
    generate.add_argument("--import-key", metavar="FILE", default=None, help="existing PEM private key (mode 0600)")
    generate.add_argument("--import-cert", metavar="FILE", default=None, help="its PEM certificate")

    for name, text, func in (
        ("stage", "publish a generated key in the metadata (pending: not signing yet)", cmd_stage),
        ("activate", "make a pending key sign; the active one becomes retiring", cmd_activate),
        ("retire", "remove a retiring (or pending) key from the metadata", cmd_retire),
        ("purge", "delete a retired key's record and files", cmd_purge),
    ):
        parser = _command(keys, name, text, func)
        parser.add_argument("kid", metavar="KID", help="the key's ID (first column of `icbridge keys list`)")
        if name == "activate":
            parser.add_argument("--force", action="store_true",
                                help="activate before keys.min_overlap has passed (SPs may refuse it)")
        if name == "retire":
            parser.add_argument("--force", action="store_true",
                                help="retire within keys.min_overlap of the activation that replaced it")


def _command(keys: argparse._SubParsersAction, name: str, text: str,
             func: Callable[[argparse.Namespace], int]) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = keys.add_parser(name, help=text)
    parser.add_argument("--biller", metavar="NAME", default="",
                        help="work on that biller's own key ring (default: the deployment's, which billers share)")
    add_config(parser)
    add_json(parser)
    parser.set_defaults(func=func)
    return parser


@contextmanager
def _opened(args: argparse.Namespace) -> Iterator[tuple[Settings, Store]]:
    settings = settings_from_args(args)
    store = open_store(settings)
    try:
        yield settings, store
    finally:
        store.close()


def _ring(args: argparse.Namespace) -> str:
    """The ``--biller`` option to repeat in a "next step" hint."""
    return f" --biller {args.biller}" if args.biller else ""


def _row(view: key_lifecycle.KeyView, now: datetime) -> str:
    cert = view.certificate
    return (f"{view.kid}  {view.state:9}  RSA-{cert.key_size}  {cert.not_before:%Y-%m-%d} .. "
            f"{cert.not_after:%Y-%m-%d}  {view.days_to_expiry(now):>5}d  sha256:{cert.fingerprint}")


def cmd_list(args: argparse.Namespace) -> int:
    now = utcnow()
    with _opened(args) as (_settings, store):
        key_lifecycle.check_ring(store, args.biller)
        views = key_lifecycle.list_keys(store, args.biller)
    header = f"{'KID':16}  {'STATE':9}  {'ALG':8}  {'VALID':22}  {'EXPIRY':>6}  FINGERPRINT"
    emit(args, {"keys": [v.as_dict(now) for v in views]},
         "\n".join([header, *(_row(v, now) for v in views)]) if views else "no signing keys")
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    if bool(args.import_key) != bool(args.import_cert):
        raise ValidationError("--import-key", "--import-key and --import-cert go together")
    now = utcnow()
    with _opened(args) as (settings, store):
        if args.import_key:
            record = key_lifecycle.import_pair(store, settings, Path(args.import_key), Path(args.import_cert),
                                               now=now, actor=audit.os_actor(), ring=args.biller)
        else:
            record = key_lifecycle.generate(store, settings, now=now, actor=audit.os_actor(), size=args.size,
                                            validity_days=args.validity_days, ring=args.biller)
        view = key_lifecycle.KeyView(record, Certificate.from_pem(record.cert_pem))
    emit(args, {"kid": record.kid, **view.as_dict(now)},
         f"{record.kid}\nGenerated (not yet published). Next: icbridge keys stage {record.kid}{_ring(args)}")
    return 0


def _transition(args: argparse.Namespace, step: Callable[[Settings, Store, datetime], Any]) -> Any:
    with _opened(args) as (settings, store):
        try:
            return step(settings, store, utcnow())
        except key_lifecycle.NeedsForce as exc:
            raise KeyLifecycleError(f"{exc.detail} (--force)") from None


def cmd_stage(args: argparse.Namespace) -> int:
    record = _transition(args, lambda _s, store, now: key_lifecycle.stage(
        store, args.kid, now=now, actor=audit.os_actor(), ring=args.biller))
    emit(args, {"kid": record.kid, "state": record.state},
         f"{record.kid} is pending: published in the metadata, not signing.\n"
         "Next: ask each SP to refresh our metadata (IC: its admin re-saves the metadata URL), wait "
         f"keys.min_overlap, then: icbridge keys activate {record.kid}{_ring(args)}")
    return 0


def _evidence_text(activation: key_lifecycle.Activation) -> list[str]:
    lines = [f"Metadata fetches that listed {activation.record.kid} (last per client):"]
    seen = [c for c in activation.evidence if c.last_fetch]
    lines += [f"  {c.last_fetch:%Y-%m-%d %H:%M:%S} UTC  {c.client_ip}  {c.user_agent or '-'}" for c in seen]
    return lines if seen else [*lines, "  none"]


def cmd_activate(args: argparse.Namespace) -> int:
    activation: key_lifecycle.Activation = _transition(args, lambda settings, store, now: key_lifecycle.activate(
        store, settings, args.kid, now=now, actor=audit.os_actor(), force=args.force, ring=args.biller))
    kid = activation.record.kid
    if not args.json:
        for line in activation.warnings:
            warn(line)
    retiring = ", ".join(activation.previous)
    emit(args, {"kid": kid, "state": activation.record.state, "retiring": list(activation.previous),
                "evidence": [c.as_dict() for c in activation.evidence], "warnings": list(activation.warnings)},
         "\n".join([*_evidence_text(activation),
                    f"{kid} is active" + (f"; {retiring} is retiring (still published)." if retiring else "."),
                    "Running nodes switch within 5 s. Later: icbridge keys retire "
                    + (retiring or "KID") + _ring(args) + " once every SP has the new certificate."]))
    return 0


def cmd_retire(args: argparse.Namespace) -> int:
    retirement: key_lifecycle.Retirement = _transition(args, lambda settings, store, now: key_lifecycle.retire(
        store, settings, args.kid, now=now, actor=audit.os_actor(), force=args.force, ring=args.biller))
    record = retirement.record
    if not args.json:
        for line in retirement.warnings:
            warn(line)
    emit(args, {"kid": record.kid, "state": record.state, "warnings": list(retirement.warnings)},
         f"{record.kid} is retired: no longer published. Its files stay until: "
         f"icbridge keys purge {record.kid}{_ring(args)}")
    return 0


def cmd_purge(args: argparse.Namespace) -> int:
    removed = _transition(args, lambda settings, store, now: key_lifecycle.purge(
        store, settings, args.kid, now=now, actor=audit.os_actor(), ring=args.biller))
    emit(args, {"kid": args.kid, "state": "purged", "removed": [str(p) for p in removed]},
         f"{args.kid} purged; removed: " + (", ".join(str(p) for p in removed) or "no files"))
    return 0
