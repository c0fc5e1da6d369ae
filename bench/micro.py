"""Micro-benchmarks of the Python costs of one SP-initiated login (issue 21), in process, CPU time per call.

Usage: ``.venv/bin/python -m bench.micro [--seconds 0.5] [item ...]``; items: logging, cookie, page, authn, metrics.

Each item times, with ``time.thread_time``, what one login does of it (as ``/saml/sso`` does it with a valid
session cookie in and the auto-POST page out) and prints microseconds per login. Nothing leaves the process:
log lines go to a null stream, the page is rendered for a stand-in request.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import time
import uuid
from base64 import b64encode
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from bench.server import SP_ACS, SP_ENTITY, authn_request_query


def per_call(fn: Callable[[], Any], seconds: float) -> float:
    """Microseconds of this thread's CPU per call of ``fn`` (best of 3 rounds)."""
    fn()  # warm caches
    best = float("inf")
    for _ in range(3):
        count = 0
        start = time.thread_time()
        deadline = start + seconds / 3
        while True:
            for _ in range(50):
                fn()
            count += 50
            now = time.thread_time()
            if now >= deadline:
                break
        best = min(best, (now - start) / count * 1e6)
    return best


def _null_logging() -> None:
    from bridge.logs import configure_logging

    configure_logging("INFO", "json")
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(open(os.devnull, "w"))  # noqa: SIM115 - lives as long as the process


def bench_logging(seconds: float) -> dict[str, float]:
    """The log lines of one login at default settings: the access line (if any) and the login.issued audit line."""
    from bridge import audit
    from bridge.identity import Identity
    from bridge.web.security import EdgeMiddleware

    _null_logging()
    identity = Identity(email="payer@example.com", account_number="12345", login_type="Payer", biller="demo")
    event = audit.login_event(audit.LOGIN_ISSUED, at=datetime.now(UTC), outcome="ok", identity=identity,
                              sp=SP_ENTITY, flow="sp-initiated", client_ip="127.0.0.1")

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/html")]})
        await send({"type": "http.response.body", "body": b"ok"})

    async def send(message: Any) -> None:
        return None

    async def receive() -> Any:
        return {"type": "http.request", "body": b""}

    settings = _settings()
    kwargs: dict[str, Any] = {"max_body": 65536, "max_query": 65536, "https": False}
    if "access" in type(settings.logging).model_fields:
        kwargs["access"] = settings.logging.access
    edge = EdgeMiddleware(app, **kwargs)
    scope = {"type": "http", "method": "GET", "path": "/saml/sso", "query_string": b"SAMLRequest=x",
             "headers": [(b"host", b"127.0.0.1"), (b"cookie", b"bridge_session=x")]}

    def request() -> None:
        coro = edge(dict(scope), receive, send)
        with contextlib.suppress(StopIteration):  # nothing in it waits: it ends on the first step
            coro.send(None)

    def line() -> None:
        audit._log(event)

    edge_us = per_call(request, seconds)
    audit_us = per_call(line, seconds)
    return {"edge_middleware": edge_us, "audit_line": audit_us, "per_login": edge_us + audit_us}


def _settings() -> Any:
    from bridge.config import Settings

    return Settings()


def bench_cookie(seconds: float) -> dict[str, float]:
    """Load the session cookie, dump it again and write its Set-Cookie header."""
    from bridge.delegation.sessions import Session, SessionCodec, cookie_policy
    from bridge.identity import Identity
    from bridge.web.cookies import cookie_header

    codec = SessionCodec(["s" * 40, "t" * 40], idle_timeout=1800)
    identity = Identity(email="payer@example.com", account_number="12345", login_type="Payer", biller="demo")
    now = datetime.now(UTC)
    session = Session(session_id=uuid.uuid4().hex, identity=identity, authn_instant=now, view_mode=1, deep_link=0)
    value = codec.dump(session, now=now)
    policy = cookie_policy(name="bridge_session", https=True, view_mode=1, idle_timeout=1800)
    load = per_call(lambda: codec.load(value, now=now), seconds)
    dump = per_call(lambda: codec.dump(session, now=now), seconds)
    header = per_call(lambda: cookie_header(policy, value), seconds)
    return {"load": load, "dump": dump, "header": header, "per_login": load + dump + header}


def bench_page(seconds: float) -> dict[str, float]:
    """The auto-POST page of a biller with a stylesheet and a portal to return to."""
    from starlette.requests import Request

    from bridge.billers import Biller
    from bridge.web.payer import post_page

    biller = _biller(Biller)
    fields = [("SAMLResponse", b64encode(os.urandom(6000)).decode()), ("RelayState", "/pay?x=1&y=<2>")]

    def page() -> None:
        request = Request({"type": "http", "state": {"csp_nonce": "n0nce", "request_id": "r1"}, "headers": []})
        post_page(request, SP_ACS, fields, biller=biller)

    return {"post_page": per_call(page, seconds)}


def _biller(cls: Any) -> Any:
    import dataclasses

    names = {f.name for f in dataclasses.fields(cls)}
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            values[f.name] = None
    values.update(name="demo", return_url="https://portal.example.com/", css_url="https://portal.example.com/s.css",
                  portal_origins=("https://portal.example.com",))
    return cls(**{k: v for k, v in values.items() if k in names})


def bench_authn(seconds: float) -> dict[str, float]:
    """Decode and parse one HTTP-Redirect AuthnRequest (schema-checked)."""
    from bridge.saml.authn_request import parse_authn_request
    from bridge.saml.bindings import decode_redirect, parse_redirect_query

    query = authn_request_query("_micro1", sso_url="http://127.0.0.1:8000/saml/sso", now=datetime.now(UTC))

    def parse() -> None:
        redirect = parse_redirect_query(query)
        xml = decode_redirect(redirect.saml_request, max_message=65536, max_inflated=262144)
        parse_authn_request(xml)

    return {"decode_and_parse": per_call(parse, seconds)}


def bench_metrics(seconds: float) -> dict[str, float]:
    """The login's metric updates: logins{biller,flow,outcome} and the SSO latency histogram."""
    from bridge.metrics import Metrics

    metrics = Metrics()

    def update() -> None:
        with metrics.sso_latency.time():
            metrics.logins.labels("demo", "sp-initiated", "ok").inc()

    return {"per_login": per_call(update, seconds)}


ITEMS = {"logging": bench_logging, "cookie": bench_cookie, "page": bench_page, "authn": bench_authn,
         "metrics": bench_metrics}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=0.6, help="CPU seconds per measurement")
    parser.add_argument("items", nargs="*", default=list(ITEMS), metavar="ITEM")
    args = parser.parse_args()
    for item in args.items:
        results = ITEMS[item](args.seconds)
        print(item.ljust(8), "  ".join(f"{name} {value:.1f} µs" for name, value in results.items()), flush=True)


if __name__ == "__main__":
    main()
