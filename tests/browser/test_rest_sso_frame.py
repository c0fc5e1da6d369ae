"""Cloud SSO Connect over REST in Chromium: the portal on another site frames the launch (ViewMode 1), the
bridge runs IC's decision tree against the simulator over https, and IC's Cloud SSO page opens inside the
frame with the biller's CSS and its "Sign out and Return to <SiteName>" button (docs/rest-sso.md).

The rig is tests/browser/cross_site.py's (bridge at ``https://sso.test``, portal at ``https://portal.test``),
started here with the rig's CA trusted by the bridge process, because the bridge itself calls IC (the
simulator) over https. The browser profile refuses every cookie of the bridge's site: REST sign-in needs none.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from bridge.config import load_settings
from bridge.simulator.cpv2 import simulator_api_key

from .checks import DESKTOP, PHONE, assert_accessible, assert_fits
from .conftest import CHROMIUM, CHROMIUM_ARGS, SCREENSHOTS, Served, free_port, tls_served
from .cross_site import TlsPortal, launch_profile, make_tls, serve_portal

pytestmark = pytest.mark.browser
BRAND_CSS = "h1{color:rgb(12, 34, 56)}"


@dataclass
class RestRig:
    bridge: Served
    portal: TlsPortal
    browser: Any  # a Chromium profile that refuses every cookie of the bridge's site
    css_url: str
    ic_api_base: str


def _css_server() -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/css")
            self.end_headers()
            self.wfile.write(BRAND_CSS.encode())

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture(scope="module")
def rest_rig(tmp_path_factory: pytest.TempPathFactory, playwright_driver: Any) -> Iterator[RestRig]:
    directory = tmp_path_factory.mktemp("rest-sso-frame")
    tls = make_tls(directory)
    bridge = tls_served(directory, tls, ca_for_outgoing=True)  # its calls to IC (the simulator) go over the rig's TLS
    process = bridge.process
    css = _css_server()
    browser = None
    try:
        with serve_portal(tls, free_port()) as portal:
            browser = launch_profile(playwright_driver, "blocked", directory / "chromium", executable=CHROMIUM,
                                     args=CHROMIUM_ARGS)
            yield RestRig(bridge=bridge, portal=portal, browser=browser,
                          css_url=f"http://127.0.0.1:{css.server_port}/brand.css",
                          ic_api_base=f"{bridge.api_base}/simulator")
    finally:
        if browser is not None:
            browser.close()
        css.shutdown()
        process.terminate()
        process.wait(timeout=10)


def _rest_biller(rig: RestRig, name: str) -> str:
    rig.portal.pages["/home"] = ('<!DOCTYPE html><html lang="en"><head><title>Home</title></head>'
                                 '<body><h1 id="home">City Water home</h1></body></html>')
    guid = str(uuid.uuid5(uuid.NAMESPACE_URL, name))
    settings = load_settings(rig.bridge.config)  # the simulated IC issued this biller its API key
    added = rig.bridge.cli(
        "billers", "add", name, "--biller-guid", guid,
        "--sp", f"{rig.bridge.base_url}/simulator/metadata", "--portal-origin", rig.portal.origin,
        "--sso-method", "rest", "--rest-login-type-id", "5", "--ic-api-key", simulator_api_key(settings, guid),
        "--ic-api-base", rig.ic_api_base, "--css-url", rig.css_url,
        "--return-url", f"{rig.portal.origin}/home", "--return-site-name", "City Water",
    )
    return str(added["api_key"])


def test_a_cross_site_portal_frames_the_rest_journey_to_ics_page_and_back(rest_rig: RestRig) -> None:
    key = _rest_biller(rest_rig, "rest-water")
    url = rest_rig.bridge.create_login("rest-water", key, deep_link="autopay", view_mode=1)
    rest_rig.portal.embed("/pay", url)
    page = rest_rig.browser.new_page()
    page.set_viewport_size(DESKTOP)
    page.goto(f"{rest_rig.portal.origin}/pay")
    frame = page.frame_locator("#ic")
    frame.locator("#outcome").wait_for()
    assert frame.locator("#outcome").get_attribute("data-ok") == "true"
    assert frame.locator("#page-name").inner_text() == "Customer Portal AutoPay Settings"
    assert frame.locator("#account").inner_text() == "101Invoice"
    assert frame.locator("#view-mode").inner_text().startswith("1:")
    assert frame.locator("h1").evaluate("e => getComputedStyle(e).color") == "rgb(12, 34, 56)"
    sign_out = frame.locator("#sign-out")
    assert sign_out.inner_text() == "Sign out and Return to City Water"
    for label, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
        page.set_viewport_size(viewport)
        assert_fits(page)
        assert_accessible(page)
        page.screenshot(path=str(SCREENSHOTS / f"rest-sso-frame-{label}.png"), full_page=True)
    sign_out.click()
    page.locator("#home").wait_for()
    assert page.url == f"{rest_rig.portal.origin}/home"


def test_an_ic_failure_shows_the_bridges_page_inside_the_frame_with_the_way_back(rest_rig: RestRig) -> None:
    key = _rest_biller(rest_rig, "rest-fault")
    queued = httpx.post(  # the simulator's fault queue, as a partner trying the failure paths would use it
        f"{rest_rig.ic_api_base}/ic/faults", data={"operation": "authenticate", "kind": "ic_error"},
                        verify=rest_rig.bridge.verify, timeout=10)
    assert queued.status_code == 303
    url = rest_rig.bridge.create_login("rest-fault", key, view_mode=1)
    rest_rig.portal.embed("/fault", url)
    page = rest_rig.browser.new_page()
    page.goto(f"{rest_rig.portal.origin}/fault")
    frame = page.frame_locator("#ic")
    frame.get_by_text("Simulated IC error in authenticate").wait_for()
    back = frame.get_by_role("link", name="Return to City Water")
    assert back.get_attribute("target") == "_top"
    back.click()
    page.wait_for_url(f"{rest_rig.portal.origin}/home")
