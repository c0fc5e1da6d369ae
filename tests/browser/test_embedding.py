"""The iFrame journey as partners embed it, in Chromium with real cookie rules (docs/embedding.md).

Portal and bridge are real https sites on loopback (tests/browser/cross_site.py): the same site
(``portal.sso.test`` framing ``sso.test``) or another site (``portal.test``), with third-party cookies
blocked as browsers now do, or with every cookie of the bridge's site refused.
"""

from __future__ import annotations

import uuid

import pytest

from .checks import DESKTOP, PHONE, assert_accessible, assert_fits
from .conftest import SCREENSHOTS, CrossSite

pytestmark = pytest.mark.browser


def _simulator_biller(rig: CrossSite, name: str, *options: str) -> str:
    """A biller bound to the bridge's IC simulator; returns its partner API key."""
    base = rig.bridge.base_url
    added = rig.bridge.cli("billers", "add", name, "--biller-guid", str(uuid.uuid5(uuid.NAMESPACE_URL, name)),
                           "--sp", f"{base}/simulator/metadata", "--link-base", f"{base}/simulator/saml", *options)
    return str(added["api_key"])


def _check_page(page, name: str) -> None:  # type: ignore[no-untyped-def]
    """No horizontal overflow and no serious axe-core violation, at a phone's width and a desktop's."""
    for label, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
        page.set_viewport_size(viewport)
        assert_fits(page)
        assert_accessible(page)
        page.screenshot(path=str(SCREENSHOTS / f"embedding-{name}-{label}.png"), full_page=True)


def test_a_same_site_portal_frames_the_journey_to_the_ic_page(cross_site):
    portal = cross_site.portal.same_site_origin
    key = _simulator_biller(cross_site, "same-site-water", "--portal-origin", portal)
    url = cross_site.bridge.create_login("same-site-water", key, deep_link="autopay", view_mode=1)
    cross_site.portal.embed("/same-site", url)
    page = cross_site.page("partitioned", DESKTOP)
    page.goto(f"{portal}/same-site")
    frame = page.frame_locator("#ic")
    frame.locator("#outcome").wait_for()
    assert frame.locator("#outcome").get_attribute("data-ok") == "true"
    assert frame.locator("#page-name").inner_text() == "Customer Portal AutoPay Settings"
    _check_page(page, "same-site")
