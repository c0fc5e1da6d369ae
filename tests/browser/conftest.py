"""A real `icbridge serve` on 127.0.0.1, a partner portal on another port, and headless Debian Chromium.

``served`` + ``portal``: portal and bridge both on 127.0.0.1 (different ports), over plain http: the same
site, as in DOMAIN.md's "portal and bridge share a site" case, so the bridge's SameSite=Lax session cookie
works inside the frame. ``cross_site``: the bridge over https at ``sso.test`` and a portal at
``portal.test`` (another site) and ``portal.sso.test`` (the same site), with Chromium profiles that apply
real third-party-cookie rules (tests/browser/cross_site.py). Screenshots go to artifacts/screenshots/
(docs/admin-console.md).
"""

from __future__ import annotations

import json
import os
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from .cross_site import (
    BRIDGE_HOST,
    RIG_ARGS,
    Tls,
    TlsPortal,
    launch_profile,
    make_tls,
    serve_portal,
    start_tls_bridge,
)

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
BRIDGE = str(Path(sys.executable).with_name("icbridge"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Served:
    base_url: str
    config: Path
    init: dict[str, Any]
    process: subprocess.Popen[bytes]
    api_base: str = ""  # where this test process reaches the API, when base_url's host resolves only in Chromium
    verify: ssl.SSLContext | bool = True  # trusts the CA of a TLS bridge

    def cli(self, *args: str) -> dict[str, Any]:
        out = subprocess.run([BRIDGE, *args, "--config", str(self.config), "--json"], capture_output=True,
                             text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)

    def sole_shared_biller(self, name: str) -> None:
        """Make ``name`` the one biller on its SP that IC reaches at the shared endpoints: every other biller
        on that SP gets its per-biller endpoints, as the bridge requires of several billers on one SP (the
        shared SSO URL answers only when exactly one biller there uses it)."""
        billers = self.cli("billers", "list")["billers"]
        sp = next(b["sp"] for b in billers if b["name"] == name)
        for other in billers:
            if other["sp"] == sp and other["name"] != name and other["idp_endpoints"] == "shared":
                self.cli("billers", "update", other["name"], "--idp-endpoints", "per-biller")
        if next(b for b in billers if b["name"] == name)["idp_endpoints"] != "shared":
            self.cli("billers", "update", name, "--idp-endpoints", "shared")

    def create_login(self, biller: str, api_key: str, **body: Any) -> str:
        payer = {"email": "pat.payer@example.com", "account_number": "101Invoice", "role": "owner"}
        answer = httpx.post(f"{self.api_base or self.base_url}/api/v1/logins",
                            json={"biller": biller, **payer, **body},
                            headers={"Authorization": f"Bearer {api_key}"}, timeout=10, verify=self.verify)
        assert answer.status_code == 201, answer.text
        return str(answer.json()["url"])


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One server per module (starting it costs seconds); tests use their own billers."""
    tmp_path = tmp_path_factory.mktemp("served")
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    init = subprocess.run([BRIDGE, "init", str(tmp_path / "instance"), "--base-url", base_url, "--json"],
                          capture_output=True, text=True, timeout=60)
    assert init.returncode == 0, init.stderr
    info = json.loads(init.stdout)
    log = (tmp_path / "bridge.log").open("wb")
    process = subprocess.Popen([BRIDGE, "serve", "--config", info["config"], "--port", str(port)],
                               stdout=log, stderr=subprocess.STDOUT, env={**os.environ})
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, (tmp_path / "bridge.log").read_text()
            assert time.monotonic() < deadline, "icbridge serve did not start in 60 s"
            time.sleep(0.2)
        yield Served(base_url=base_url, config=Path(info["config"]), init=info, process=process)
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


@dataclass
class Portal:
    """A partner portal's pages, served from another port on 127.0.0.1."""

    origin: str
    pages: dict[str, str] = field(default_factory=dict)


@pytest.fixture
def portal() -> Iterator[Portal]:
    site = Portal(origin="")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = site.pages.get(self.path)
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write((body or "not found").encode())

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    site.origin = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield site
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def playwright_driver() -> Iterator[Any]:
    """One Playwright driver per module, shared by ``browser`` and ``cross_site`` (one per thread at most)."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium package (scripts/setup.sh does, as root)")
    from playwright.sync_api import sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="module")
def browser(playwright_driver: Any) -> Iterator[Any]:
    chromium = playwright_driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
    try:
        yield chromium
    finally:
        chromium.close()


@dataclass
class CrossSite:
    """The bridge at ``https://sso.test:<port>``, a portal on another site and on the same site, and
    Chromium profiles per cookie regime (``"partitioned"``, ``"blocked"``; see tests/browser/cross_site.py).

    ``bridge`` is a :class:`Served` (``cli``, ``create_login`` work as with ``served``); ``portal.embed``
    writes a page that frames a URL; ``page(regime, viewport)`` opens a tab in that regime's profile."""

    bridge: Served
    portal: TlsPortal
    directory: Path
    playwright: Any
    contexts: dict[str, Any] = field(default_factory=dict)

    def context(self, regime: str = "partitioned") -> Any:
        if regime not in self.contexts:
            self.contexts[regime] = launch_profile(
                self.playwright, regime, self.directory / f"chromium-{regime}", executable=CHROMIUM,
                args=CHROMIUM_ARGS,
            )
        return self.contexts[regime]

    def incognito(self, **options: Any) -> Any:
        """A fresh Playwright context (e.g. ``java_script_enabled=False``) in a browser with the rig's host
        names and certificate rules, and Chromium's default cookie rules; close it after use."""
        if "incognito" not in self.contexts:
            self.contexts["incognito"] = self.playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=[*CHROMIUM_ARGS, *RIG_ARGS])
        return self.contexts["incognito"].new_context(**options)

    def page(self, regime: str = "partitioned", viewport: dict[str, int] | None = None) -> Any:
        page = self.context(regime).new_page()
        if viewport:
            page.set_viewport_size(viewport)
        return page


def tls_served(directory: Path, tls: Tls, *, ca_for_outgoing: bool = False) -> Served:
    """A fresh ``icbridge init`` instance at ``https://sso.test:<port>``, served with the rig's certificate.

    ``ca_for_outgoing``: the bridge's own HTTPS calls (httpx, e.g. to the simulator as IC) trust the rig's CA."""
    port = free_port()
    base_url = f"https://{BRIDGE_HOST}:{port}"
    init = subprocess.run([BRIDGE, "init", str(directory / "instance"), "--base-url", base_url, "--json"],
                          capture_output=True, text=True, timeout=60)
    assert init.returncode == 0, init.stderr
    info = json.loads(init.stdout)
    with pytest.MonkeyPatch.context() as env:
        if ca_for_outgoing:
            env.setenv("SSL_CERT_FILE", str(tls.ca))
        process = start_tls_bridge(Path(info["config"]), tls, port, directory / "bridge.log")
    return Served(base_url=base_url, config=Path(info["config"]), init=info, process=process,
                  api_base=f"https://127.0.0.1:{port}", verify=ssl.create_default_context(cafile=str(tls.ca)))


@pytest.fixture(scope="module")
def cross_site_rig(tmp_path_factory: pytest.TempPathFactory, playwright_driver: Any) -> Iterator[CrossSite]:
    directory = tmp_path_factory.mktemp("cross-site")
    tls = make_tls(directory)
    bridge = tls_served(directory, tls)
    process = bridge.process
    rig: CrossSite | None = None
    try:
        with serve_portal(tls, free_port()) as portal:
            rig = CrossSite(bridge=bridge, portal=portal, directory=directory, playwright=playwright_driver)
            yield rig
    finally:
        for context in (rig.contexts.values() if rig else ()):
            context.close()
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def cross_site(cross_site_rig: CrossSite) -> Iterator[CrossSite]:
    """The module's rig (one bridge, one portal, the Chromium profiles) with no portal pages yet."""
    cross_site_rig.portal.pages.clear()
    yield cross_site_rig
