"""The bridge session: cookie attributes per ViewMode, resuming a parked AuthnRequest, and sign-out
(SAML Single Logout and /logout). Framing headers live in tests/security/test_headers.py; idle expiry and
cross-biller refusal of a session in tests/security/test_tickets.py."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from onelogin.saml2.auth import OneLogin_Saml2_Auth
from saml_peers import OneLoginSP, parse_post_page

PAYER = {"email": "pat@example.com", "account_number": "101Invoice"}


@pytest.fixture
def sp(sqlite_bridge) -> OneLoginSP:
    sp = OneLoginSP()
    sqlite_bridge.trust(sp)
    return sp


def _cookie_header(response) -> str:
    return response.headers["set-cookie"].lower()


def test_iframe_view_mode_sets_a_samesite_none_secure_httponly_cookie(sqlite_bridge, sp):
    sqlite_bridge.add_biller("city", sp.entity_id)
    cookie = _cookie_header(sqlite_bridge.launch("city", **PAYER, view_mode=1))
    assert "samesite=none" in cookie and "secure" in cookie and "httponly" in cookie


def test_full_page_view_mode_sets_a_lax_httponly_cookie(sqlite_bridge, sp):
    sqlite_bridge.add_biller("city", sp.entity_id)
    cookie = _cookie_header(sqlite_bridge.launch("city", **PAYER, view_mode=0))
    assert "samesite=lax" in cookie and "httponly" in cookie and "secure" in cookie


def test_plain_http_development_base_url_uses_lax_without_secure():
    from bridge.delegation.sessions import cookie_policy

    policy = cookie_policy(name="s", https=False, view_mode=1, idle_timeout=60)
    assert (policy.samesite, policy.secure) == ("lax", False)


def test_a_request_without_a_session_is_parked_and_resumed_after_the_partner_login(sqlite_bridge, sp):
    sqlite_bridge.add_biller("city", sp.entity_id, login_url="https://portal.city.test/login")
    url, request_id = sp.start_redirect(relay_state="rs")
    parked = sqlite_bridge.sso_redirect(url)
    assert parked.status_code == 303
    location = parked.headers["location"]
    assert location.startswith("https://portal.city.test/login?saml_pending=")
    pending = parse_qs(urlsplit(location).query)["saml_pending"][0]
    # The portal signs the payer in, asks for a launch URL and sends the browser there with the handle.
    launch = sqlite_bridge.create_login("city", **PAYER).json()["url"]
    resumed = sqlite_bridge.client.get(f"{launch}&pending={pending}", follow_redirects=False)
    consumed = sp.consume(parse_post_page(resumed.text), request_id)
    assert consumed.name_id == PAYER["email"] and consumed.relay_state == "rs"


def test_a_parked_request_resumes_only_once(sqlite_bridge, sp):
    sqlite_bridge.add_biller("city", sp.entity_id, login_url="https://portal.city.test/login")
    url, _ = sp.start_redirect()
    pending = parse_qs(urlsplit(sqlite_bridge.sso_redirect(url).headers["location"]).query)["saml_pending"][0]
    first = sqlite_bridge.create_login("city", **PAYER).json()["url"]
    assert sqlite_bridge.client.get(f"{first}&pending={pending}").status_code == 200
    second = sqlite_bridge.create_login("city", **PAYER).json()["url"]
    response = sqlite_bridge.client.get(f"{second}&pending={pending}")
    assert response.status_code == 400 and "SAMLResponse" not in response.text


def test_logout_ends_the_session_and_returns_to_the_billers_return_url(sqlite_bridge, sp):
    sqlite_bridge.add_biller("city", sp.entity_id, return_url="https://portal.city.test/home")
    sqlite_bridge.launch("city", **PAYER)
    response = sqlite_bridge.client.get("/logout", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "https://portal.city.test/home"
    assert 'bridge_session=""' in response.headers["set-cookie"] or "max-age=0" in _cookie_header(response)


def test_sp_initiated_single_logout_is_answered_with_a_signed_logout_response(sqlite_bridge):
    sp = OneLoginSP(sign_requests=True, slo_url="https://sp-onelogin.test/slo")
    sqlite_bridge.trust(sp)
    sqlite_bridge.add_biller("city", sp.entity_id)
    sqlite_bridge.launch("city", **PAYER)
    auth = OneLogin_Saml2_Auth(sp._request_data(), sp._settings())
    logout_url = auth.logout(name_id=PAYER["email"], session_index="s1")
    answer = sqlite_bridge.sso_redirect(logout_url)
    assert answer.status_code == 303
    back = answer.headers["location"]
    assert back.startswith("https://sp-onelogin.test/slo?SAMLResponse=")
    assert "max-age=0" in _cookie_header(answer) or 'bridge_session=""' in answer.headers["set-cookie"]
    query = {k: v[0] for k, v in parse_qs(urlsplit(back).query).items()}
    slo_data = {**sp._request_data(), "get_data": query, "script_name": "/slo"}
    checker = OneLogin_Saml2_Auth(slo_data, sp._settings())
    checker.process_slo(keep_local_session=True, request_id=auth.get_last_request_id())
    assert checker.get_errors() == [], checker.get_last_error_reason()


def test_a_request_parked_for_one_biller_is_not_answered_by_a_launch_for_another(sqlite_bridge, sp):
    other = OneLoginSP(entity_id="https://sp-town.test/metadata", acs_url="https://sp-town.test/acs")
    sqlite_bridge.trust(other)
    sqlite_bridge.add_biller("city", sp.entity_id, login_url="https://portal.city.test/login")
    sqlite_bridge.add_biller("town", other.entity_id)
    url, _ = sp.start_redirect()
    pending = parse_qs(urlsplit(sqlite_bridge.sso_redirect(url).headers["location"]).query)["saml_pending"][0]
    town_launch = sqlite_bridge.create_login("town", **PAYER).json()["url"]
    response = sqlite_bridge.client.get(f"{town_launch}&pending={pending}", follow_redirects=False)
    assert response.status_code == 400
    assert "another biller" in response.text and "SAMLResponse" not in response.text
    assert sqlite_bridge.audit("login.issued") == []
