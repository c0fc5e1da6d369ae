"""The iFrame journey as partners embed it, in Chromium with real cookie rules (docs/embedding.md).

Portal and bridge are real https sites on loopback (tests/browser/cross_site.py): the same site
(``portal.sso.test`` framing ``sso.test``) or another site (``portal.test``), in a profile that blocks
third-party cookies as browsers now do ("partitioned": only CHIPS cookies survive) or one that refuses
every cookie of the bridge's site ("blocked"). Whatever happens, the payer never sees a grey frame
with a spent ticket: the journey reaches IC, or a readable page explains it and the link still works.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from .checks import DESKTOP, PHONE, axe_violations, horizontal_overflow
from .conftest import SCREENSHOTS, CrossSite

pytestmark = pytest.mark.browser
SPENT_OR_REFUSED = ("ticket.consumed", "login.issued", "launch.refused")


def _simulator_biller(rig: CrossSite, name: str, *options: str) -> str:
    """A biller bound to the bridge's IC simulator; returns its partner API key."""
    base = rig.bridge.base_url
    added = rig.bridge.cli("billers", "add", name, "--biller-guid", str(uuid.uuid5(uuid.NAMESPACE_URL, name)),
                           "--sp", f"{base}/simulator/metadata", "--link-base", f"{base}/simulator/saml",
                           "--return-url", "https://portal.test/home", "--return-site-name", "City of River",
                           *options)
    return str(added["api_key"])


def _events(rig: CrossSite, biller: str) -> list[dict[str, Any]]:
    return list(rig.bridge.cli("audit", "tail", "--biller", biller, "-n", "50")["events"])


def _assert_readable(page: Any, target: Any, name: str) -> None:
    """``target`` (the page or a frame in it) fits a 390 px phone and a 1280 px desktop, with no serious or
    critical axe-core violation; screenshots of both go to artifacts/screenshots/."""
    for label, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
        page.set_viewport_size(viewport)
        for checked in {id(page): page, id(target): target}.values():
            assert horizontal_overflow(checked) <= 0, f"{checked.url} overflows at {viewport['width']} px"
            violations = axe_violations(checked)
            assert not violations, f"{checked.url}: {violations}"
        page.screenshot(path=str(SCREENSHOTS / f"embedding-{name}-{label}.png"), full_page=True)


def _framed(rig: CrossSite, regime: str, portal_origin: str, path: str, url: str) -> tuple[Any, Any]:
    rig.portal.embed(path, url)
    page = rig.page(regime, DESKTOP)
    page.goto(f"{portal_origin}{path}")
    page.frame_locator("#ic").locator("main, #outcome").first.wait_for()
    frame = next(f for f in page.frames if f.parent_frame is page.main_frame)
    return page, frame


def _reaches_ic(frame: Any, page_name: str) -> None:
    frame.wait_for_selector("#outcome")
    assert frame.get_attribute("#outcome", "data-ok") == "true", frame.content()[:2000]
    assert frame.inner_text("#page-name") == page_name


def _still_usable(rig: CrossSite, url: str) -> None:
    """The refused link was not spent: opened full page (first-party cookies), it signs the payer in."""
    page = rig.page("partitioned", DESKTOP)
    page.goto(url)
    _reaches_ic(page.main_frame, "Customer Portal Recent Bill Listing")
    page.close()


def test_a_same_site_portal_frames_the_journey_to_the_ic_page(cross_site):
    portal = cross_site.portal.same_site_origin
    key = _simulator_biller(cross_site, "same-site-water", "--portal-origin", portal)
    url = cross_site.bridge.create_login("same-site-water", key, deep_link="autopay", view_mode=1)
    page, frame = _framed(cross_site, "partitioned", portal, "/same-site", url)
    _reaches_ic(frame, "Customer Portal AutoPay Settings")
    _assert_readable(page, page, "same-site")


def test_a_cross_site_portal_keeps_the_session_in_a_partitioned_cookie(cross_site):
    portal = cross_site.portal.origin
    key = _simulator_biller(cross_site, "cross-site-water", "--portal-origin", portal)
    url = cross_site.bridge.create_login("cross-site-water", key, deep_link="bills", view_mode=1)
    page, frame = _framed(cross_site, "partitioned", portal, "/cross-site", url)
    _reaches_ic(frame, "Customer Portal Recent Bill Listing")
    session = [c for c in page.context.cookies(cross_site.bridge.base_url) if c["name"] == "bridge_session"]
    assert session and session[-1].get("partitionKey", "").startswith("https://portal.test")
    consumed = [e for e in _events(cross_site, "cross-site-water") if e["event"] == "ticket.consumed"]
    assert [e["detail"] for e in consumed] == ["path: framed, cookie kept"]


def test_blocked_cookies_show_the_partner_what_to_configure_and_spend_nothing(cross_site):
    portal = cross_site.portal.origin
    key = _simulator_biller(cross_site, "blocked-water", "--portal-origin", portal)
    url = cross_site.bridge.create_login("blocked-water", key, view_mode=1)
    page, frame = _framed(cross_site, "blocked", portal, "/blocked", url)
    frame.wait_for_selector("#advice")
    assert frame.inner_text("#reference").startswith("Reference: cookies_blocked")
    assert "--idp-fallback" in frame.inner_text("#advice")
    assert frame.get_attribute("#return", "href") == "https://portal.test/home"
    _assert_readable(page, frame, "cookies-blocked")
    outcomes = [e["event"] for e in _events(cross_site, "blocked-water") if e["event"] in SPENT_OR_REFUSED]
    assert outcomes == ["launch.refused"]
    _still_usable(cross_site, url)


def test_blocked_cookies_fall_back_to_idp_initiated_where_the_biller_allows_it(cross_site):
    portal = cross_site.portal.origin
    key = _simulator_biller(cross_site, "fallback-water", "--portal-origin", portal, "--idp-fallback")
    url = cross_site.bridge.create_login("fallback-water", key, deep_link="paperless", view_mode=1)
    _, frame = _framed(cross_site, "blocked", portal, "/fallback", url)
    _reaches_ic(frame, "Customer Portal Paperless Settings")
    consumed = [e for e in _events(cross_site, "fallback-water") if e["event"] == "ticket.consumed"]
    assert [(e["flow"], e["detail"]) for e in consumed] == [
        ("idp-initiated", "path: framed, cookie blocked: IdP-initiated fallback")]


def test_a_portal_origin_the_biller_does_not_allow_gets_a_readable_page_and_an_unspent_link(cross_site):
    key = _simulator_biller(cross_site, "elsewhere-water", "--portal-origin", cross_site.portal.same_site_origin)
    url = cross_site.bridge.create_login("elsewhere-water", key, view_mode=1)
    page, frame = _framed(cross_site, "partitioned", cross_site.portal.origin, "/not-allowed", url)
    frame.wait_for_selector("#advice")
    assert frame.inner_text("#reference").startswith("Reference: frame_not_allowed")
    assert f"framed by {cross_site.portal.origin}" in frame.inner_text("#advice")
    _assert_readable(page, frame, "origin-not-allowed")
    outcomes = [e["event"] for e in _events(cross_site, "elsewhere-water") if e["event"] in SPENT_OR_REFUSED]
    assert outcomes == ["launch.refused"]
    _still_usable(cross_site, url)


def test_the_auto_post_page_says_what_is_happening_and_passes_the_checks(cross_site):
    key = _simulator_biller(cross_site, "post-water")
    url = cross_site.bridge.create_login("post-water", key, view_mode=0)
    page = cross_site.page("partitioned", DESKTOP)
    # Hold the page still: the form's POST to IC is aborted, so the page that sent it stays to be checked.
    aborted: list[str] = []
    page.route("**/simulator/acs", lambda route: (aborted.append(route.request.method), route.abort("aborted")))
    page.goto(url, wait_until="commit")
    page.wait_for_selector("#continue")
    page.wait_for_function("() => document.readyState === 'complete'")
    deadline = 50
    while not aborted and deadline:  # the auto-submit ran (and was stopped)
        page.wait_for_timeout(100)
        deadline -= 1
    assert aborted == ["POST"]
    assert page.inner_text("h1") == "Signing you in to Invoice Cloud…"
    assert not page.is_visible("#no-script")
    _assert_readable(page, page, "auto-post")


def test_the_auto_post_page_without_scripts_explains_itself_and_its_button_finishes_the_sign_in(cross_site):
    key = _simulator_biller(cross_site, "noscript-water")
    url = cross_site.bridge.create_login("noscript-water", key, view_mode=0)
    context = cross_site.incognito(java_script_enabled=False)
    page = context.new_page()
    page.goto(url)
    page.wait_for_selector("#continue")
    assert page.is_visible("#no-script") and "Press “Continue to Invoice Cloud”" in page.inner_text("#no-script")
    for label, viewport in (("phone", PHONE), ("desktop", DESKTOP)):  # axe-core itself needs scripts
        page.set_viewport_size(viewport)
        assert horizontal_overflow(page) <= 0
        page.screenshot(path=str(SCREENSHOTS / f"embedding-auto-post-no-script-{label}.png"), full_page=True)
    page.click("#continue")
    _reaches_ic(page.main_frame, "Customer Portal Recent Bill Listing")
    context.close()


def test_an_unknown_path_is_a_payer_page_that_fits_a_phone(cross_site):
    page = cross_site.page("partitioned", PHONE)
    page.goto(f"{cross_site.bridge.base_url}/no/such/page")
    assert page.inner_text("h1") == "Page not found"
    _assert_readable(page, page, "not-found")
