"""``icbridge init``, ``icbridge serve`` and ``icbridge check``."""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

from bridge.cli.common import add_config, add_json, emit, settings_from_args
from bridge.cli.db import with_cause
from bridge.clock import utcnow
from bridge.config import DEFAULT_BASE_URL, default_config_path
from bridge.errors import ConfigError, StoreUnavailable, ValidationError
from bridge.instance import DEFAULT_STORE_URL, init_instance
from bridge.joining import join_instance
from bridge.preflight import check_instance
from bridge.store import display_url

log = logging.getLogger("bridge.cli")


def register(sub: argparse._SubParsersAction) -> None:
    init = sub.add_parser("init", help="create a working instance in DIR, or add a node to one (--join)")
    init.add_argument("dir", metavar="DIR", help="folder for the new instance (bridge.toml, certs/, metadata/)")
    init.add_argument("--base-url", default=None, metavar="URL",
                      help=f"public URL of the bridge (default {DEFAULT_BASE_URL})")
    init.add_argument("--store-url", default=None, metavar="URL",
                      help=f"sqlite:///PATH (relative to DIR) or postgresql://… (default {DEFAULT_STORE_URL}); "
                           "the store must not hold an instance yet")
    init.add_argument("--sp", default=None, metavar="ENTITY_ID",
                      help="entity ID of the demo biller's SP (default: the simulator)")
    init.add_argument("--join", default=None, metavar="FILE",
                      help="add a node to an existing instance instead: copy its bridge.toml (and its certs/ and "
                           "metadata/ beside it) into DIR and check this node sees the same store and keys")
    add_json(init)
    init.set_defaults(func=cmd_init)

    serve = sub.add_parser("serve", help="run the service under uvicorn")
    add_config(serve)
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to listen on (default 127.0.0.1; 0.0.0.0 for every interface)")
    serve.add_argument("--port", type=int, default=8000, help="TCP port to listen on (default 8000)")
    serve.add_argument("--workers", type=int, default=1, metavar="N",
                       help="worker processes (default 1; they share the store, so any number works)")
    serve.add_argument("--log-level", default=None, choices=("debug", "info", "warning", "error"),
                       type=str.lower, help="override logging.level from bridge.toml")
    serve.set_defaults(func=cmd_serve)

    check = sub.add_parser("check", help="validate the configuration, keys and SP metadata")
    add_config(check)
    add_json(check)
    check.set_defaults(func=cmd_check)


def cmd_init(args: argparse.Namespace) -> int:
    if args.join is not None:
        return _join(args)
    try:
        result = init_instance(Path(args.dir), base_url=args.base_url or DEFAULT_BASE_URL, now=utcnow(),
                               sp_entity_id=args.sp, store_url=args.store_url or DEFAULT_STORE_URL)
    except StoreUnavailable as exc:
        raise with_cause(exc) from exc.__cause__
    payload = {
        "config": str(result.config), "api_key": result.api_key, "partner_secret": result.partner_secret,
        "biller": result.biller, "metadata_url": result.metadata_url, "sso_url": result.sso_url,
        "entity_id": result.entity_id, "kid": result.kid, "admin_token": result.admin_token,
        "store": display_url(args.store_url or DEFAULT_STORE_URL),
    }
    shared = (args.store_url or DEFAULT_STORE_URL).startswith(("postgresql://", "postgres://"))
    emit(args, payload, "\n".join([
        f"Created instance: {result.config}",
        f"  Entity ID:        {result.entity_id}",
        f"  Metadata URL:     {result.metadata_url}",
        f"  SSO Service URL:  {result.sso_url}",
        f"  Demo biller:      {result.biller}",
        f"  Partner API key:  {result.api_key}   (shown once; keep it secret)",
        f"  Admin console:    {result.metadata_url.removesuffix('/saml/metadata')}/admin",
        f"  Admin token:      {result.admin_token}   (shown once; keep it secret)",
        f"  Store:            {payload['store']}",
        f"Run: icbridge serve --config {result.config}",
        *([f"Another node: copy {result.config.parent} to it, then: icbridge init NODE_DIR --join COPY/bridge.toml"]
          if shared else []),
    ]))
    return 0


def _join(args: argparse.Namespace) -> int:
    given = [flag for flag, value in (("--base-url", args.base_url), ("--store-url", args.store_url),
                                      ("--sp", args.sp)) if value is not None]
    if given:
        raise ValidationError(given[0], "not with --join: a joining node takes everything from the instance's "
                                        "bridge.toml")
    result = join_instance(Path(args.dir), Path(args.join))
    payload = {"config": str(result.config), "store": result.store, "active_kid": result.active_kid,
               "published_kids": list(result.published_kids), "billers": result.billers,
               "copied": list(result.copied)}
    emit(args, payload, "\n".join([
        f"Joined the instance on {result.store}: {result.config}",
        f"  Copied:           bridge.toml{''.join(', ' + name + '/' for name in result.copied)}",
        f"  Active key:       {result.active_kid}",
        f"  Keys loaded here: {', '.join(result.published_kids)} (every published key matches the store)",
        f"  Billers:          {result.billers}",
        f"Run: icbridge serve --config {result.config}",
    ]))
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from bridge.logs import configure_logging

    path = default_config_path(args.config)
    settings = settings_from_args(args)
    found = check_instance(path)
    if found.problems:
        raise ConfigError("\n".join(found.problems))
    configure_logging(settings.logging.level if args.log_level is None else args.log_level.upper(),
                      settings.logging.format)
    for warning in found.warnings:
        log.warning("icbridge check: %s", warning)
    os.environ["BRIDGE_CONFIG"] = str(path.resolve())
    if args.log_level is not None:
        os.environ["BRIDGE_LOG_LEVEL"] = args.log_level.upper()  # worker processes configure their own logging
    uvicorn.run(
        "bridge.web.app:app_from_env", factory=True, host=args.host, port=args.port, workers=args.workers,
        # proxy_headers off: the app applies server.forwarded_allow_ips itself (bridge/web/proxy.py), the same
        # under any ASGI server and in the tests.
        log_config=None, access_log=False, proxy_headers=False, server_header=False,
    )
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    path = default_config_path(args.config)
    found = check_instance(path)
    lines = [*found.problems, *(f"warning: {w}" for w in found.warnings)]
    verdict = f"{path}: OK" if not found.warnings else f"{path}: usable, with {len(found.warnings)} warning(s)"
    emit(args, {"ok": found.usable, "problems": found.problems, "warnings": found.warnings},
         "\n".join(lines if found.problems else [*lines, verdict]))
    return 0 if found.usable else 1
