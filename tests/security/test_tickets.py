"""Launch tickets and sessions: replay, tampering, expiry and use across billers.

A refused ticket leaves no session behind: the follow-up AuthnRequest then
finds no payer and nothing is issued.
"""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

from saml_peers import OneLoginSP, authn_request_xml

from bridge.delegation import tickets
from security.hostile import PAYER, SSO_URL, assert_no_leak, redirect_query
from security.hostile import assert_refused as refused


def _ticket_url(harness, biller: str = "city") -> str:  # type: ignore[no-untyped-def]
    created = harness.create_login(biller, **PAYER)
    assert created.status_code == 201, created.text
    return created.json()["url"]


def _no_session(harness) -> None:  # type: ignore[no-untyped-def]
    assert harness.settings.session.cookie_name not in harness.client.cookies


def _fresh(harness, sp) -> None:  # type: ignore[no-untyped-def]
    """A biller and no session (the fixtures sign a payer in; these tests start signed out)."""
    harness.client.cookies.clear()


def test_ticket_with_another_biller_in_a_reforged_payload_is_refused(sqlite_bridge, plain_sp):
    _fresh(sqlite_bridge, plain_sp)
    forged = tickets.mint(["not-the-bridge-secret"], tickets.LaunchRequest(
        biller="city", email="eve@example.com", account_number="999", login_type="1", role="owner",
        deep_link=1, view_mode=1, flow="sp-initiated"), ticket_id="_forged", now=sqlite_bridge.clock())
    refused(sqlite_bridge, sqlite_bridge.client.get(f"/launch?ticket={forged}", follow_redirects=False),
            400, "invalid_ticket")
    _no_session(sqlite_bridge)


def test_bridge_ticket_presented_as_a_partner_ticket_is_refused(sqlite_bridge, plain_sp):
    _fresh(sqlite_bridge, plain_sp)
    token = parse_qs(urlsplit(_ticket_url(sqlite_bridge)).query)["ticket"][0]
    refused(sqlite_bridge, sqlite_bridge.client.get(f"/launch?partner_ticket={token}", follow_redirects=False),
            400, "invalid_ticket")


def test_partner_ticket_with_a_newline_in_the_email_is_refused(sqlite_bridge, plain_sp):
    _fresh(sqlite_bridge, plain_sp)
    secret = tickets.partner_secret(sqlite_bridge.settings.tickets.secrets[-1], "city")
    token = tickets.mint_partner_ticket(secret, {"biller": "city", **PAYER, "email": "pat@example.com\n"},
                                        ticket_id="_nl", now=sqlite_bridge.clock())
    response = sqlite_bridge.client.get(f"/launch?partner_ticket={token}", follow_redirects=False)
    refused(sqlite_bridge, response, 400, "invalid_field")
    _no_session(sqlite_bridge)


def test_session_of_biller_a_cannot_answer_an_authn_request_of_biller_bs_sp(sqlite_bridge, plain_sp):
    other = OneLoginSP("https://sp-b.test/metadata", "https://sp-b.test/acs", keys=plain_sp.keys)
    sqlite_bridge.trust(other)
    sqlite_bridge.add_biller("town", other.entity_id)
    xml = authn_request_xml(issuer=other.entity_id, destination=SSO_URL, request_id="_cross")
    response = sqlite_bridge.sso_redirect(f"/saml/sso?{redirect_query(xml)}")
    refused(sqlite_bridge, response, 403, "forbidden")


def test_replayed_authn_request_id_is_refused(sqlite_bridge, plain_sp):
    xml = authn_request_xml(issuer=plain_sp.entity_id, destination=SSO_URL, request_id="_once")
    url = f"/saml/sso?{redirect_query(xml)}"
    assert sqlite_bridge.sso_redirect(url).status_code == 200
    issued = len(sqlite_bridge.audit("login.issued"))
    assert issued == 1
    response = sqlite_bridge.sso_redirect(url)
    assert response.status_code == 400, response.text[:400]
    assert response.headers["content-type"].startswith("text/html")
    assert "Reference: replay" in response.text and "SAMLResponse" not in response.text
    assert_no_leak(sqlite_bridge, response.text)
    assert len(sqlite_bridge.audit("login.issued")) == issued


def test_stale_authn_request_is_refused(sqlite_bridge, plain_sp):
    sqlite_bridge.clock.advance(sqlite_bridge.settings.idp.request_max_age + sqlite_bridge.settings.idp.clock_skew + 5)
    xml = authn_request_xml(issuer=plain_sp.entity_id, destination=SSO_URL, request_id="_stale")
    refused(sqlite_bridge, sqlite_bridge.sso_redirect(f"/saml/sso?{redirect_query(xml)}"), 400,
            "invalid_saml_request")


def test_tampered_session_cookie_is_ignored_and_nothing_is_issued(sqlite_bridge, plain_sp):
    name = sqlite_bridge.settings.session.cookie_name
    value = sqlite_bridge.client.cookies[name]
    sqlite_bridge.client.cookies.clear()
    sqlite_bridge.client.cookies.set(name, value[:-3] + "AAA", domain="bridge.test")
    xml = authn_request_xml(issuer=plain_sp.entity_id, destination=SSO_URL, request_id="_tamper")
    response = sqlite_bridge.sso_redirect(f"/saml/sso?{redirect_query(xml)}")
    # No valid session and no login_url for the biller: the payer is told to start from the portal.
    refused(sqlite_bridge, response, 404, "not_found")


def test_idle_session_expires(sqlite_bridge, plain_sp):
    sqlite_bridge.clock.advance(sqlite_bridge.settings.session.idle_timeout + 1)
    xml = authn_request_xml(issuer=plain_sp.entity_id, destination=SSO_URL, request_id="_idle",
                            issue_instant=sqlite_bridge.clock())
    refused(sqlite_bridge, sqlite_bridge.sso_redirect(f"/saml/sso?{redirect_query(xml)}"), 404, "not_found")


def test_ticket_redemption_takes_constant_work_for_junk(sqlite_bridge, plain_sp):
    started = time.monotonic()
    for junk in ("", ".", "a.b.c", "%00", "\u202e" * 10):
        assert sqlite_bridge.client.get("/launch", params={"ticket": junk}, follow_redirects=False).status_code == 400
    assert time.monotonic() - started < 2
