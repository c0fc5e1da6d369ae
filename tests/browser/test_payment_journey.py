"""The guest-payment journey in headless Chromium against a real `icbridge serve` whose simulator plays Invoice
Cloud: the partner asks for a payment page, the payer pays on it (full page, and inside the portal's iFrame with
ViewMode 1), reads the receipt, follows its return link; IC's PostBack reaches the bridge and the partner's
webhook gets the signed event, all on the development instance alone."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from bridge.config import load_settings
from bridge.delegation.tickets import partner_secret

from .checks import DESKTOP, PHONE, assert_accessible, assert_fits
from .conftest import SCREENSHOTS, Served

pytestmark = pytest.mark.browser
BRAND_CSS = "h1{color:rgb(12, 34, 56)} main{border-top:6px solid rgb(12, 34, 56)}"
PAID_PAGE = '<!DOCTYPE html><html lang="en"><title>Paid</title><h1 id="paid">Thanks</h1></html>'
INVOICE = {"invoice_number": "INV-1001", "due_date": "2026-12-15", "balance_due": "42.50"}


class PartnerSite:
    """The partner's own server: its portal pages (one frames the payment page), its CSS, its webhook."""

    def __init__(self) -> None:
        self.pages: dict[str, str] = {"/brand.css": BRAND_CSS, "/paid": PAID_PAGE}
        self.webhooks: list[tuple[dict[str, str], bytes]] = []
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = site.pages.get(self.path.split("?")[0])
                self.send_response(200 if body is not None else 404)
                kind = "text/css" if self.path.endswith(".css") else "text/html; charset=utf-8"
                self.send_header("Content-Type", kind)
                self.end_headers()
                self.wfile.write((body or "not found").encode())

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                site.webhooks.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def partner(served: Served) -> Iterator[PartnerSite]:
    site = PartnerSite()
    served.cli("billers", "update", "demo", "--portal-origin", site.origin,
               "--payment-webhook", f"{site.origin}/hooks/payments")
    try:
        yield site
    finally:
        site.server.shutdown()
        site.server.server_close()


def _payment(served: Served, partner: PartnerSite, view_mode: int) -> dict[str, Any]:
    body = {"biller": "demo", "view_mode": view_mode, "biller_reference": f"ORDER-{view_mode}-{time.time_ns()}",
            "css_url": f"{partner.origin}/brand.css", "return_url": f"{partner.origin}/paid",
            "customers": [{"account_number": "101Invoice", "name": "Pat Payer", "invoices": [INVOICE]}]}
    answer = httpx.post(f"{served.base_url}/api/v1/payments", json=body, timeout=20,
                        headers={"Authorization": f"Bearer {served.init['api_key']}"})
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def _state(served: Served, payment_id: str) -> dict[str, Any]:
    return dict(httpx.get(f"{served.base_url}/api/v1/payments/{payment_id}", timeout=10,
                          headers={"Authorization": f"Bearer {served.init['api_key']}"}).json())


def _webhook_for(served: Served, partner: PartnerSite, payment_id: str) -> dict[str, Any]:
    """The partner's webhook for ``payment_id``, after checking its signature as the partner would."""
    deadline = time.monotonic() + 30  # the node's outbox worker starts with its first housekeeping pass
    while time.monotonic() < deadline:
        for headers, body in partner.webhooks:
            event = json.loads(body)
            if event["payment_id"] == payment_id:
                fields = dict(item.split("=", 1) for item in headers["bridge-signature"].split(","))
                secret = partner_secret(load_settings(served.config).tickets.secrets[-1], "demo")
                mac = hmac.new(secret.encode(), fields["t"].encode() + b"." + body, hashlib.sha256).hexdigest()
                assert hmac.compare_digest(mac, fields["v1"])
                return dict(event)
        time.sleep(0.3)
    raise AssertionError(f"no webhook for {payment_id}")


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_a_guest_pays_on_the_full_page_and_returns_to_the_portal(browser, served, partner, viewport) -> None:  # type: ignore[no-untyped-def]
    payment = _payment(served, partner, view_mode=0)
    page = browser.new_page(viewport=viewport)
    page.goto(payment["url"])
    assert page.inner_text("#total") == "$42.50" and "INV-1001" in page.inner_text("#invoices")
    # The partner's CssUrl is applied (the page's CSP admits its origin for styles only).
    assert page.evaluate("getComputedStyle(document.querySelector('h1')).color") == "rgb(12, 34, 56)"
    assert_fits(page)
    assert_accessible(page)
    page.screenshot(path=str(SCREENSHOTS / f"payment-page-{viewport['width']}.png"), full_page=True)
    page.fill("#card_number", "4111 1111 1111 1111")
    page.click("#pay")
    page.wait_for_selector("#receipt")
    assert page.get_attribute("#receipt", "data-approved") == "true"
    assert "HTTP 200" in page.inner_text("#postback")
    assert_fits(page)
    assert_accessible(page)
    page.click("#return")
    page.wait_for_selector("#paid")
    assert page.url == f"{partner.origin}/paid"
    page.close()
    assert _state(served, payment["payment_id"])["state"] == "approved"
    event = _webhook_for(served, partner, payment["payment_id"])
    assert event["type"] == "payment.approved" and event["postback"]["amount"] == "42.50"


def test_a_guest_pays_inside_the_portals_iframe_with_view_mode_1(browser, served, partner) -> None:  # type: ignore[no-untyped-def]
    payment = _payment(served, partner, view_mode=1)
    partner.pages["/pay"] = (f'<!DOCTYPE html><html lang="en"><title>Portal</title><h1>City Water</h1>'
                             f'<iframe id="pay" title="Payment" src="{payment["url"]}" width="700" height="900">'
                             "</iframe></html>")
    page = browser.new_page(viewport=DESKTOP)
    page.goto(f"{partner.origin}/pay")
    frame = page.frame_locator("#pay")
    frame.locator("#card_number").fill("4000 0000 0000 0002")  # declined first
    frame.locator("#pay").click()
    assert frame.locator("#receipt").get_attribute("data-approved") == "false"
    frame.locator("#try-again").click()
    frame.locator("#card_number").fill("4111111111111111")
    frame.locator("#pay").click()
    assert frame.locator("#receipt").get_attribute("data-approved") == "true"
    page.screenshot(path=str(SCREENSHOTS / "payment-in-portal-iframe.png"), full_page=True)
    frame.locator("#return").click()  # target=_top: the portal's own page replaces the portal's frame page
    page.wait_for_selector("#paid")
    assert page.url == f"{partner.origin}/paid"
    page.close()
    state = _state(served, payment["payment_id"])
    assert state["state"] == "approved" and [p["approved"] for p in state["postbacks"]] == [False, True]
    assert _webhook_for(served, partner, payment["payment_id"])["state"] in ("declined", "approved")


def test_a_full_page_payment_page_refuses_to_be_framed(browser, served, partner) -> None:  # type: ignore[no-untyped-def]
    payment = _payment(served, partner, view_mode=0)
    partner.pages["/frame-full"] = f'<!DOCTYPE html><iframe id="pay" src="{payment["url"]}"></iframe>'
    page = browser.new_page(viewport=DESKTOP)
    page.goto(f"{partner.origin}/frame-full")
    page.wait_for_timeout(1000)
    assert page.frame_locator("#pay").locator("#pay-form").count() == 0  # frame-ancestors 'none'
    page.close()
