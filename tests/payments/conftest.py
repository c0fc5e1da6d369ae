"""Payments fixtures: a development instance (simulator on) served by uvicorn on 127.0.0.1, and a partner webhook.

The simulator plays Invoice Cloud over real HTTP: the bridge's CPV2 client calls
``<base_url>/simulator/cloudpaymentsapi/v2`` on the same server, and the simulator posts its
PostBacks to the bridge's ``/ic/postback/<token>``, as IC would. The webhook outbox does not run in
the background here: tests call ``deliver()`` so every delivery is deterministic.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from store_backends import store_url

from bridge.clock import utcnow
from bridge.config import load_settings
from bridge.instance import InitResult, Instance, init_instance, open_instance
from bridge.payments.outbox import outbox_of
from bridge.web.app import create_app

INVOICE = {"invoice_number": "INV-1001", "type_id": 1, "due_date": "2026-12-15", "invoice_date": "2026-11-15",
           "balance_due": "42.50"}
CUSTOMER = {"account_number": "101Invoice", "name": "Pat Payer", "address": "1 Main St", "city": "Springfield",
            "state": "MA", "zip": "01101", "email": "pat.payer@example.com", "invoices": [INVOICE]}
CONFIG_TWEAKS = """
[limits]
api_per_minute = 100000
sso_per_minute_per_ip = 100000

[payments]
retry_base = 5
retry_max = 60
max_attempts = 3
webhook_timeout = 2
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tune_config(config: Path, *, read_timeout: float = 3.0) -> None:
    """Short IC timeouts (SIM-SLOW sleeps past them), generous rate limits, quick webhook retries."""
    text = config.read_text().replace(
        "[invoicecloud]\n", f"[invoicecloud]\nconnect_timeout = 1\nread_timeout = {read_timeout}\n", 1
    )
    config.write_text(text + CONFIG_TWEAKS)


@dataclass
class Webhook:
    """The partner's webhook endpoint: records every delivery, answers ``status`` (settable)."""

    url: str
    status: int = 200
    received: list[dict[str, Any]] = field(default_factory=list)

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(r["body"]) for r in self.received]


def serve_webhook(port: int = 0) -> tuple[Webhook, ThreadingHTTPServer]:
    hook = Webhook(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            hook.received.append({"headers": {k.lower(): v for k, v in self.headers.items()}, "body": body})
            self.send_response(hook.status)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    hook.url = f"http://127.0.0.1:{server.server_port}/hooks/payments"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return hook, server


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook, server = serve_webhook()
    try:
        yield hook
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class LiveBridge:
    base_url: str
    instance: Instance
    init: InitResult
    http: httpx.Client

    def create_payment(self, *, api_key: str | None = None, headers: dict[str, str] | None = None,
                       **body: Any) -> httpx.Response:
        payload = {"biller": "demo", "customers": [CUSTOMER], **body}
        auth = {"Authorization": f"Bearer {api_key or self.init.api_key}", **(headers or {})}
        return self.http.post(f"{self.base_url}/api/v1/payments", json=payload, headers=auth)

    def payment(self, payment_id: str) -> httpx.Response:
        return self.http.get(f"{self.base_url}/api/v1/payments/{payment_id}",
                             headers={"Authorization": f"Bearer {self.init.api_key}"})

    def pay(self, url: str, **form: str) -> httpx.Response:
        """The payer on the simulator's page: open it, submit the form."""
        assert self.http.get(url).status_code == 200
        fields = {"method": "card", "card_number": "4111 1111 1111 1111", "payer_name": "Pat Payer", **form}
        return self.http.post(url, data=fields)

    def set_webhook(self, url: str | None) -> None:
        from dataclasses import replace

        from bridge.billers import get_biller

        biller = replace(get_biller(self.instance.store, "demo"), payment_webhook=url)
        self.instance.store.put_biller(biller.record())

    def deliver(self) -> int:
        return outbox_of(self.instance).deliver_due()

    def audit(self, event: str) -> list[Any]:
        return [e for e in self.instance.store.audit_events() if e.event == event]


def serve_instance(directory: Path, *, store: str = "sqlite:///bridge.db", read_timeout: float = 3.0,
                   ) -> Iterator[LiveBridge]:
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    result = init_instance(directory, base_url=base_url, now=utcnow(), store_url=store)
    tune_config(result.config, read_timeout=read_timeout)
    instance = open_instance(load_settings(result.config))
    app = create_app(instance, background=False)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False,
                                           lifespan="on", server_header=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        with httpx.Client(timeout=15.0) as http:
            yield LiveBridge(base_url=base_url, instance=instance, init=result, http=http)
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        instance.close()


@pytest.fixture
def live(tmp_path: Path) -> Iterator[LiveBridge]:
    """The development instance on SQLite, over real HTTP."""
    yield from serve_instance(tmp_path / "instance")


@pytest.fixture(params=["sqlite", "postgres"])
def live_on(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LiveBridge]:
    """The same, on each store backend."""
    with store_url(str(request.param), tmp_path) as url:
        yield from serve_instance(tmp_path / "instance", store=url)
