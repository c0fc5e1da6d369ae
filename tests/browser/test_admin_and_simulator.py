"""End to end in headless Chromium against a real `icbridge serve`: the admin console and the IC simulator."""

from __future__ import annotations

import re

import pytest

from .conftest import SCREENSHOTS

pytestmark = pytest.mark.browser
GUID = "22222222-3333-4444-8555-666666666666"
FRAMED_GUID = "33333333-4444-4555-8666-777777777777"


def test_admin_creates_a_biller_rotates_keys_and_sees_a_simulator_login_in_the_audit(served, browser):
    page = browser.new_page()
    page.goto(f"{served.base_url}/admin")
    assert page.url.endswith("/admin/login")
    page.fill("#token", served.init["admin_token"])
    page.click("#sign-in")
    page.wait_for_selector("#active-kid")
    assert page.inner_text("#active-kid") == served.init["kid"]
    page.screenshot(path=str(SCREENSHOTS / "admin-dashboard.png"), full_page=True)

    page.goto(f"{served.base_url}/admin/billers/new")
    page.fill("#name", "river-city")
    page.fill("#biller_guid", GUID)
    page.select_option("#sp_entity_id", f"{served.base_url}/simulator/metadata")
    page.fill("#link_base", f"{served.base_url}/simulator/saml")
    page.fill("#login_types", "owner=1\nco-owner=5\ndefault=1")
    page.click("#save-biller")
    api_key = page.inner_text("#api-key")
    assert api_key.startswith("bk_")
    page.screenshot(path=str(SCREENSHOTS / "admin-biller-created.png"), full_page=True)

    page.goto(f"{served.base_url}/admin/keys")
    page.click("#generate-key")
    kid = re.search(r"Generated key ([0-9a-f]{16})", page.inner_text("#result-message")).group(1)
    page.click(f"#stage-{kid}")
    assert "is staged" in page.inner_text("#result-message")
    page.click(f"#activate-{kid}")  # asks first
    page.check("#option-force")  # keys.min_overlap is a day; the guard's --force, as the CLI has it
    page.click("#confirm")
    assert f"Key {kid} now signs" in page.inner_text("#result-message")
    assert page.get_attribute(f'tr[data-kid="{kid}"]', "data-state") == "active"
    page.screenshot(path=str(SCREENSHOTS / "admin-keys.png"), full_page=True)

    served.sole_shared_biller("river-city")
    payer = browser.new_page()
    payer.goto(served.create_login("river-city", api_key, deep_link="bills", view_mode=0))
    payer.wait_for_selector("#outcome")
    assert payer.get_attribute("#outcome", "data-ok") == "true", payer.content()
    assert payer.inner_text("#page-name") == "Customer Portal Recent Bill Listing"
    payer.screenshot(path=str(SCREENSHOTS / "simulator-full-page.png"), full_page=True)

    page.goto(f"{served.base_url}/admin/audit?biller=river-city&event=login.issued")
    row = page.locator('tr[data-event="login.issued"][data-biller="river-city"]')
    assert row.count() == 1
    assert "pat.payer@example.com" in row.inner_text()
    page.screenshot(path=str(SCREENSHOTS / "admin-audit.png"), full_page=True)


def test_deep_link_in_view_mode_1_renders_inside_the_portals_iframe(served, portal, browser):
    added = served.cli("billers", "add", "framed", "--biller-guid", FRAMED_GUID, "--sp",
                       f"{served.base_url}/simulator/metadata", "--link-base", f"{served.base_url}/simulator/saml",
                       "--portal-origin", portal.origin)
    served.sole_shared_biller("framed")
    url = served.create_login("framed", added["api_key"], deep_link="autopay", view_mode=1)
    portal.pages["/pay"] = (
        "<!DOCTYPE html><title>City portal</title><h1>City of River: pay your bill</h1>"
        f'<iframe id="ic" src="{url}" width="900" height="640"></iframe>'
    )
    page = browser.new_page(viewport={"width": 1000, "height": 800})
    page.goto(f"{portal.origin}/pay")
    frame = page.frame_locator("#ic")
    frame.locator("#outcome").wait_for()
    assert frame.locator("#outcome").get_attribute("data-ok") == "true"
    assert frame.locator("#page-name").inner_text() == "Customer Portal AutoPay Settings"
    assert frame.locator("#view-mode").inner_text().startswith("1: inside")
    assert frame.locator('[data-claim="Email"]').inner_text() == "pat.payer@example.com"
    page.screenshot(path=str(SCREENSHOTS / "simulator-in-portal-iframe.png"), full_page=True)


def test_the_admin_console_does_not_render_inside_a_frame(served, portal, browser):
    portal.pages["/frame-admin"] = f'<!DOCTYPE html><iframe id="admin" src="{served.base_url}/admin/login"></iframe>'
    page = browser.new_page()
    page.goto(f"{portal.origin}/frame-admin")
    page.wait_for_timeout(1000)
    assert page.frame_locator("#admin").locator("#sign-in").count() == 0
    child = [f for f in page.frames if f != page.main_frame]
    assert child and not child[0].url.startswith(served.base_url + "/admin")
