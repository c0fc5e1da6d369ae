"""A launch opened in the portal's iFrame is decided before its ticket is spent (bridge/web/embedding.py).

The browser's own headers are sent as Chromium sends them in a frame (``Sec-Fetch-Dest: iframe``, the
portal's origin as Referer); tests/browser/test_embedding.py runs the same journeys in Chromium.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from saml_peers import OneLoginSP, parse_post_page

PAYER = {"email": "pat@example.com", "account_number": "101Invoice", "view_mode": 1}
PORTAL = "https://portal.city.test"
FRAMED = {"sec-fetch-dest": "iframe", "sec-fetch-site": "cross-site", "referer": f"{PORTAL}/pay"}


@pytest.fixture
def sp(sqlite_bridge) -> OneLoginSP:
    sp = OneLoginSP()
    sqlite_bridge.trust(sp)
    return sp


def _launch_url(bridge, biller: str, **body) -> str:  # type: ignore[no-untyped-def]
    created = bridge.create_login(biller, **{**PAYER, **body})
    assert created.status_code == 201, created.text
    return str(created.json()["url"])


def _open(bridge, url: str, headers: dict[str, str] = FRAMED):  # type: ignore[no-untyped-def]
    return bridge.client.get(url, headers=headers, follow_redirects=False)


def _unspent(bridge, url: str) -> bool:  # type: ignore[no-untyped-def]
    """The ticket still works: opened full page (no frame), it is consumed now."""
    return _open(bridge, url, headers={}).status_code == 303 and len(bridge.audit("ticket.consumed")) == 1


def _check(bridge, url: str, *, cookie: bool):  # type: ignore[no-untyped-def]
    """The detection hop: the first answer is the redirect to itself; follow it with or without the cookie."""
    hop = _open(bridge, url)
    assert hop.status_code == 303, hop.text[:300]
    if not cookie:
        bridge.client.cookies.clear()
    return _open(bridge, hop.headers["location"])


def test_a_framed_launch_for_a_biller_without_portal_origins_is_refused_and_its_ticket_stays_unspent(
        sqlite_bridge, sp):
    sqlite_bridge.add_biller("city", sp.entity_id)
    url = _launch_url(sqlite_bridge, "city")
    response = _open(sqlite_bridge, url)
    assert response.status_code == 403
    assert "Reference: frame_not_allowed" in response.text
    assert "--portal-origin" in response.text  # the page tells the partner what to configure
    assert "frame-ancestors *" in response.headers["content-security-policy"]  # readable in the refused frame
    assert sqlite_bridge.audit("ticket.consumed") == [] and sqlite_bridge.audit("login.issued") == []
    assert [e.detail.split(":")[0] for e in sqlite_bridge.audit("launch.refused")] == ["frame_not_allowed"]


def test_a_framed_launch_without_a_referer_for_a_biller_without_portal_origins_is_refused_unspent(
        sqlite_bridge, sp):
    # A portal with Referrer-Policy: no-referrer: the embedder is unknown, and no origin is allowed anyway.
    sqlite_bridge.add_biller("city", sp.entity_id)
    url = _launch_url(sqlite_bridge, "city")
    response = _open(sqlite_bridge, url, headers={"sec-fetch-dest": "iframe", "sec-fetch-site": "cross-site"})
    assert response.status_code == 403
    assert "Reference: frame_not_allowed" in response.text
    assert sqlite_bridge.audit("ticket.consumed") == [] and sqlite_bridge.audit("login.issued") == []
    assert _unspent(sqlite_bridge, url)


def test_a_framed_launch_from_an_origin_the_biller_does_not_list_is_refused_unspent(sqlite_bridge, sp):
    sqlite_bridge.add_biller("city", sp.entity_id, portal_origins=(PORTAL,))
    url = _launch_url(sqlite_bridge, "city")
    response = _open(sqlite_bridge, url, {**FRAMED, "referer": "https://evil.test/page"})
    assert response.status_code == 403
    assert "framed by https://evil.test" in response.text
    assert _unspent(sqlite_bridge, url)


def test_a_same_origin_frame_without_referer_counts_as_the_bridges_own_origin(sqlite_bridge, sp):
    sqlite_bridge.add_biller("city", sp.entity_id, portal_origins=(PORTAL,))
    url = _launch_url(sqlite_bridge, "city")
    response = _open(sqlite_bridge, url, {"sec-fetch-dest": "iframe", "sec-fetch-site": "same-origin"})
    assert response.status_code == 403 and "framed by https://bridge.test" in response.text


def test_an_allowed_origin_written_with_its_default_port_still_matches(sqlite_bridge, sp):
    sqlite_bridge.add_biller("city", sp.entity_id, portal_origins=("https://PORTAL.city.test:443",))
    assert _open(sqlite_bridge, _launch_url(sqlite_bridge, "city")).status_code == 303


def test_an_allowed_frame_gets_the_detection_hop_before_anything_is_spent(sqlite_bridge, sp):
    sqlite_bridge.add_biller("city", sp.entity_id, portal_origins=(PORTAL,))
    url = _launch_url(sqlite_bridge, "city")
    hop = _open(sqlite_bridge, url)
    assert hop.status_code == 303
    target = urlsplit(hop.headers["location"])
    assert (target.netloc, target.path) == ("bridge.test", "/launch")
    assert parse_qs(target.query)["cookie_check"] == ["1"] and parse_qs(target.query)["ticket"] == \
        parse_qs(urlsplit(url).query)["ticket"]
    probe = hop.headers["set-cookie"]
    assert probe.startswith("bridge_session_check=")
    assert all(a in probe for a in ("HttpOnly", "SameSite=None", "Secure", "Partitioned"))
    assert sqlite_bridge.audit("ticket.consumed") == []


def test_when_the_cookie_came_back_the_launch_goes_to_ic_with_a_partitioned_session(sqlite_bridge, sp):
    sqlite_bridge.add_biller("city", sp.entity_id, portal_origins=(PORTAL,))
    response = _check(sqlite_bridge, _launch_url(sqlite_bridge, "city"), cookie=True)
    assert response.status_code == 303 and response.headers["location"].startswith("https://ic.test/saml/")
    session = response.headers["set-cookie"]
    assert session.startswith("bridge_session=") and "Partitioned" in session
    [consumed] = sqlite_bridge.audit("ticket.consumed")
    assert (consumed.flow, consumed.detail) == ("sp-initiated", "path: framed, cookie kept")


def test_a_cookie_left_by_another_launch_does_not_answer_for_this_one(sqlite_bridge, sp):
    sqlite_bridge.add_biller("city", sp.entity_id, portal_origins=(PORTAL,))
    first = _open(sqlite_bridge, _launch_url(sqlite_bridge, "city"))  # sets the first launch's probe cookie
    assert first.status_code == 303
    second = _open(sqlite_bridge, _launch_url(sqlite_bridge, "city"))
    sqlite_bridge.client.cookies.clear()
    sqlite_bridge.client.cookies.set("bridge_session_check", first.cookies["bridge_session_check"],
                                     domain="bridge.test")
    response = _open(sqlite_bridge, second.headers["location"])
    assert response.status_code == 403 and "Reference: cookies_blocked" in response.text


def test_when_the_cookie_is_blocked_the_partner_is_told_what_to_configure_and_nothing_is_spent(sqlite_bridge, sp):
    sqlite_bridge.add_biller("city", sp.entity_id, portal_origins=(PORTAL,))
    url = _launch_url(sqlite_bridge, "city")
    response = _check(sqlite_bridge, url, cookie=False)
    assert response.status_code == 403
    text = response.text
    assert "Reference: cookies_blocked" in text
    assert "--idp-fallback" in text and "same site" in text.lower()
    assert sqlite_bridge.audit("ticket.consumed") == [] and sqlite_bridge.audit("login.issued") == []
    assert [e.detail.split(":")[0] for e in sqlite_bridge.audit("launch.refused")] == ["cookies_blocked"]
    assert _unspent(sqlite_bridge, url)


def test_when_the_cookie_is_blocked_a_biller_with_idp_fallback_signs_in_idp_initiated(sqlite_bridge, sp):
    sqlite_bridge.add_biller("city", sp.entity_id, portal_origins=(PORTAL,), idp_fallback=True)
    response = _check(sqlite_bridge, _launch_url(sqlite_bridge, "city", deep_link=3), cookie=False)
    form = parse_post_page(response.text)
    assert form.action == sp.acs_url
    assert form.fields["RelayState"] == "account=101Invoice&ViewMode=1&DeepLinkID=3"
    consumed = sp.consume(form, None)
    assert consumed.name_id == PAYER["email"]
    [event] = sqlite_bridge.audit("ticket.consumed")
    assert (event.flow, event.detail) == ("idp-initiated", "path: framed, cookie blocked: IdP-initiated fallback")
    assert len(sqlite_bridge.audit("login.issued")) == 1


def test_a_launch_outside_a_frame_goes_straight_to_ic(sqlite_bridge, sp):
    sqlite_bridge.add_biller("city", sp.entity_id)
    response = _open(sqlite_bridge, _launch_url(sqlite_bridge, "city"), headers={})
    assert response.status_code == 303 and response.headers["location"].startswith("https://ic.test/saml/")
    [consumed] = sqlite_bridge.audit("ticket.consumed")
    assert consumed.detail == "path: top-level"


def test_a_framed_idp_initiated_launch_needs_no_detection_hop(sqlite_bridge, sp):
    sqlite_bridge.add_biller("city", sp.entity_id, portal_origins=(PORTAL,))
    response = _open(sqlite_bridge, _launch_url(sqlite_bridge, "city", flow="idp-initiated"))
    assert response.status_code == 200 and parse_post_page(response.text).action == sp.acs_url
    [consumed] = sqlite_bridge.audit("ticket.consumed")
    assert consumed.detail == "path: framed"
