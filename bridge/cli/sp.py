"""``icbridge sp list|show|refresh|reload``: the trusted service providers, where their metadata comes from,
refreshing it (URL sources) and re-reading it (metadata files).

``list`` and ``show`` read the local sources and the cached copies of URL sources (no network);
refresh times come from the status files the running bridge writes beside its cached copies.
``refresh`` fetches now and saves the new copy; a running bridge on this node picks it up within
a few seconds (bridge.trust.metadata_sources).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from bridge.cli.common import add_config, add_json, emit, settings_from_args
from bridge.clock import utcnow
from bridge.config import Settings
from bridge.errors import NotFound
from bridge.keys.material import Certificate
from bridge.saml.bindings import POST
from bridge.saml.sp_metadata import Endpoint, ServiceProvider
from bridge.trust.metadata_sources import MetadataSources


def register(sub: argparse._SubParsersAction) -> None:
    sp = sub.add_parser("sp", help="trusted service providers and their metadata").add_subparsers(
        dest="sp_cmd", metavar="COMMAND", required=True
    )
    listing = sp.add_parser("list", help="every trusted SP: source, ACS endpoints, certificates, refresh times")
    add_config(listing)
    add_json(listing)
    listing.set_defaults(func=cmd_list)

    show = sp.add_parser("show", help="everything the bridge holds about one SP")
    show.add_argument("entity_id", metavar="ENTITY_ID", help="the SP's entity ID (see `icbridge sp list`)")
    add_config(show)
    add_json(show)
    show.set_defaults(func=cmd_show)

    refresh = sp.add_parser("refresh", help="fetch metadata now (every source, or the one providing ENTITY_ID)")
    refresh.add_argument("entity_id", metavar="ENTITY_ID", nargs="?", default=None,
                         help="only the source that provides this SP (default: every URL source)")
    add_config(refresh)
    add_json(refresh)
    refresh.set_defaults(func=cmd_refresh)

    reload = sp.add_parser("reload", help="read the metadata files now; running bridges on this node follow within "
                                          "seconds (as on SIGHUP)")
    add_config(reload)
    add_json(reload)
    reload.set_defaults(func=cmd_reload)


def _sources(args: argparse.Namespace) -> MetadataSources:
    sources = MetadataSources(settings_from_args(args))
    sources.load()
    return sources


def _endpoint(endpoint: Endpoint) -> dict[str, Any]:
    return {"binding": endpoint.binding, "location": endpoint.location, "index": endpoint.index,
            "is_default": endpoint.is_default}


def _certificate(cert: Certificate, use: str) -> dict[str, Any]:
    return {"use": use, "kid": cert.kid, "sha256": cert.fingerprint, "subject": cert.cert.subject.rfc4514_string(),
            "not_after": cert.not_after.isoformat()}


def _row(sources: MetadataSources, sp: ServiceProvider, *, full: bool = False) -> dict[str, Any]:
    state = sources.state_of(sp.entity_id)
    status = sources.status(state) if state is not None else {}
    certs = [_certificate(c, "signing") for c in sp.signing_certs]
    certs += [_certificate(c, "encryption") for c in sp.encryption_certs]
    row: dict[str, Any] = {
        "entity_id": sp.entity_id,
        "source": status.get("source", sp.source),
        "source_type": status.get("type"),
        "acs": [_endpoint(e) for e in sp.acs],
        "certificates": certs,
        "last_refresh": status.get("last_refresh"),
        "next_refresh": status.get("next_refresh"),
        "last_error": status.get("last_error"),
    }
    if full:
        row |= {
            "document": sp.source,
            "slo": [_endpoint(e) for e in sp.slo],
            "authn_requests_signed": sp.authn_requests_signed,
            "want_assertions_signed": sp.want_assertions_signed,
            "nameid_formats": list(sp.nameid_formats),
            "valid_until": status.get("valid_until") or (sp.valid_until.isoformat() if sp.valid_until else None),
        }
    return row


def _text(row: dict[str, Any]) -> str:
    lines = [row["entity_id"], f"  source        {row['source']}"]
    lines += [f"  acs           {e['location']}" + (" (default)" if e["is_default"] else "") for e in row["acs"]]
    lines += [f"  cert          {c['use']} {c['kid']} expires {c['not_after'][:10]}" for c in row["certificates"]]
    lines.append(f"  last refresh  {row['last_refresh'] or '-'}")
    lines.append(f"  next refresh  {row['next_refresh'] or '-'}")
    if row.get("last_error"):
        lines.append(f"  last error    {row['last_error']}")
    for name in ("slo", "nameid_formats", "valid_until", "want_assertions_signed", "authn_requests_signed"):
        if name in row:
            value = row[name]
            shown = ", ".join(e["location"] if isinstance(e, dict) else str(e) for e in value) \
                if isinstance(value, list) else value
            lines.append(f"  {name.replace('_', ' '):22} {shown if shown not in (None, '') else '-'}")
    return "\n".join(lines)


def simulator_sp(settings: Settings) -> ServiceProvider | None:
    """The built-in IC simulator's SP, trusted while ``simulator.enabled`` (the dashboard lists it too).

    Built from the settings, never by creating its key file: `icbridge serve` makes that at first start,
    as the service's user; until then the listing has no certificate for it.
    """
    if not settings.simulator.enabled:
        return None
    from bridge.simulator.sp import ACS_PATH, KEY_FILE, METADATA_PATH, load_or_create_keys

    base = settings.idp.base_url
    certs: tuple[Certificate, ...] = ()
    directory = settings.path(settings.keys.dir)
    if (directory / KEY_FILE).is_file():
        keys = load_or_create_keys(directory, now=utcnow(), common_name=base + METADATA_PATH)
        certs = (Certificate.from_pem(keys.cert_pem),)
    return ServiceProvider(entity_id=base + METADATA_PATH, acs=(Endpoint(POST, base + ACS_PATH, 0, True),),
                           signing_certs=certs, source="built-in IC simulator (simulator.enabled)")


def _simulator_row(sp: ServiceProvider) -> dict[str, Any]:
    certs = [_certificate(c, "signing") for c in sp.signing_certs]
    return {"entity_id": sp.entity_id, "source": sp.source, "source_type": "simulator",
            "acs": [_endpoint(e) for e in sp.acs], "certificates": certs, "last_refresh": None,
            "next_refresh": None, "last_error": None}


def cmd_list(args: argparse.Namespace) -> int:
    sources = _sources(args)
    rows = [_row(sources, sp) for sp in sorted(sources.registry, key=lambda sp: sp.entity_id)]
    simulator = simulator_sp(sources.settings)
    if simulator is not None and sources.registry.find(simulator.entity_id) is None:
        rows.append(_simulator_row(simulator))
    missing = [sources.status(s) for s in sources.states if s.copy is None]
    text = "\n".join(_text(row) for row in rows) or "no trusted service providers"
    for status in missing:
        text += f"\n(no usable copy yet from {status['source']}: {status['last_error'] or 'never fetched'})"
    emit(args, {"service_providers": rows, "sources_without_copy": missing}, text)
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    sources = _sources(args)
    sp = sources.registry.find(args.entity_id)
    simulator = simulator_sp(sources.settings)
    if sp is None and simulator is not None and simulator.entity_id == args.entity_id:
        row = _simulator_row(simulator)
        emit(args, row, _text(row))
        return 0
    if sp is None:
        raise NotFound(f"no trusted service provider {args.entity_id} (see `icbridge sp list`)")
    row = _row(sources, sp, full=True)
    emit(args, row, _text(row))
    return 0


def _outcome(ok: bool, entity_ids: tuple[str, ...]) -> str:
    if ok:
        return "ok: " + (", ".join(entity_ids) or "no SP")
    return "refused; kept the last good copy" if entity_ids else "refused; no copy to keep, its SPs are not trusted"


def cmd_refresh(args: argparse.Namespace) -> int:
    sources = _sources(args)
    results = sources.refresh(args.entity_id)
    rows = [{"source": r.source, "ok": r.ok, "error": r.error, "entity_ids": list(r.entity_ids)} for r in results]
    text = "\n".join(f"{r.source}: {_outcome(r.ok, r.entity_ids)}" for r in results)
    emit(args, {"refreshed": rows, "ok": all(r.ok for r in results)}, text)
    for result in results:
        if not result.ok:
            print(f"icbridge: error: {result.source}: {result.error}", file=sys.stderr)
    return 0 if all(r.ok for r in results) else 1


def cmd_reload(args: argparse.Namespace) -> int:
    """Local sources only (``refresh`` fetches URLs). A refused file is reported, and a running bridge keeps
    that file's last good copy; exit 1 when any file is refused."""
    sources = MetadataSources(settings_from_args(args))
    results = sources.reload_local()
    refused = sources.file_problems()
    rows = [{"source": r.source, "ok": r.ok, "error": r.error, "entity_ids": list(r.entity_ids)} for r in results]
    lines = [f"{r.source}: {_outcome(r.ok, r.entity_ids)}" for r in results]
    lines += [f"refused: {problem}" for problem in refused.values()]
    ok = all(r.ok for r in results) and not refused
    emit(args, {"reloaded": rows, "refused_files": refused, "ok": ok}, "\n".join(lines))
    for result in results:
        if not result.ok:
            print(f"icbridge: error: {result.source}: {result.error}", file=sys.stderr)
    for problem in refused.values():
        print(f"icbridge: error: {problem}", file=sys.stderr)
    return 0 if ok else 1
