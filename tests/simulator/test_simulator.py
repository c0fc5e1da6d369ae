"""The built-in IC simulator: a strict python3-saml SP that shows the claims, the landing page or what was wrong."""

from __future__ import annotations

import base64
import stat
from urllib.parse import parse_qs, urlsplit

from dev_bridge import BASE_URL, make_dev_bridge, post_form

from bridge.config import load_settings
from bridge.instance import open_instance
from bridge.simulator.sp import KEY_FILE


def _to_sso(bridge, **body):
    """Launch, then follow the simulator link: the signed AuthnRequest the simulator sends to the bridge."""
    launched = bridge.client.get(bridge.launch_url(**body), follow_redirects=False)
    assert launched.status_code == 303
    link = launched.headers["location"]
    to_sso = bridge.client.get(link, follow_redirects=False)
    assert to_sso.status_code == 303, to_sso.text[:300]
    return link, to_sso.headers["location"]


def test_simulator_metadata_asks_for_signed_requests_and_assertions(dev_bridge):
    response = dev_bridge.client.get("/simulator/metadata")
    assert response.status_code == 200
    xml = response.text
    assert f'entityID="{BASE_URL}/simulator/metadata"' in xml
    assert 'AuthnRequestsSigned="true"' in xml and 'WantAssertionsSigned="true"' in xml
    assert f'Location="{BASE_URL}/simulator/acs"' in xml


def test_simulator_sp_is_trusted_by_the_bridge(dev_bridge):
    sp = dev_bridge.instance.registry.get(f"{BASE_URL}/simulator/metadata")
    assert sp.authn_requests_signed
    assert sp.default_acs().location == f"{BASE_URL}/simulator/acs"


def test_link_sends_a_signed_rsa_sha256_authn_request_to_the_sso_url(dev_bridge):
    link, sso = _to_sso(dev_bridge, deep_link=3, view_mode=1)
    assert urlsplit(link).path == "/simulator/saml/c09d08fb-a969-4778-bb58-b46a8e9224e7"
    assert parse_qs(urlsplit(link).query) == {"account": ["101Invoice"], "ViewMode": ["1"], "DeepLinkID": ["3"]}
    assert sso.startswith(f"{BASE_URL}/saml/sso?")
    query = parse_qs(urlsplit(sso).query)
    assert query["SigAlg"] == ["http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"]
    assert query["Signature"] and query["SAMLRequest"]


def test_deep_link_journey_shows_claims_page_and_view_mode(dev_bridge):
    page = dev_bridge.follow(dev_bridge.launch_url(deep_link="autopay", view_mode=1))
    assert page.status_code == 200, page.text
    assert 'data-ok="true"' in page.text
    assert "Customer Portal AutoPay Settings" in page.text
    assert "1: inside the portal&#39;s iFrame" in page.text
    assert 'data-claim="Email">pat.payer@example.com<' in page.text
    assert 'data-claim="LoginType">1<' in page.text
    assert 'data-claim="AccountNumber">101Invoice<' in page.text


def test_idp_initiated_response_is_read_from_its_relay_state(dev_bridge):
    page = dev_bridge.follow(dev_bridge.launch_url(flow="idp-initiated", deep_link=9, view_mode=0))
    assert page.status_code == 200, page.text
    assert "Customer Portal Scheduled Payments Listing" in page.text
    assert "0: full page (redirect)" in page.text


def _response_form(bridge, **body):
    _link, sso = _to_sso(bridge, **body)
    answer = bridge.client.get(sso, follow_redirects=False)
    assert answer.status_code == 200, answer.text[:300]
    return post_form(answer.text)


def test_a_response_is_consumed_once(dev_bridge):
    action, fields = _response_form(dev_bridge)
    assert dev_bridge.client.post(action, data=fields).status_code == 200
    again = dev_bridge.client.post(action, data=fields)
    assert again.status_code == 400
    assert "already consumed" in again.text


def test_a_tampered_response_shows_what_was_wrong(dev_bridge):
    action, fields = _response_form(dev_bridge)
    xml = base64.b64decode(fields["SAMLResponse"]).replace(b"pat.payer@example.com", b"eve@example.com")
    fields["SAMLResponse"] = base64.b64encode(xml).decode()
    page = dev_bridge.client.post(action, data=fields)
    assert page.status_code == 400
    assert 'data-ok="false"' in page.text
    assert "python3-saml (strict) refused the Response" in page.text
    assert "Signature validation failed" in page.text or "invalid_response" in page.text


def test_garbage_is_refused_with_a_reason(dev_bridge):
    page = dev_bridge.client.post("/simulator/acs", data={"SAMLResponse": "not base64 at all"})
    assert page.status_code == 400
    assert "not a readable base64-encoded SAML message" in page.text


def test_result_page_may_be_framed_only_by_the_billers_portal(dev_bridge):
    record = dev_bridge.instance.store.get_biller("demo")
    settings = {**record.settings, "portal_origins": ["https://portal.example.com"]}
    dev_bridge.instance.store.put_biller(type(record)(record.name, record.biller_guid, record.sp_entity_id,
                                                      settings, record.created_at))
    page = dev_bridge.follow(dev_bridge.launch_url(view_mode=1))
    assert page.status_code == 200
    assert "frame-ancestors https://portal.example.com;" in page.headers["content-security-policy"]
    assert "x-frame-options" not in page.headers


def test_a_biller_of_another_sp_is_not_simulated(dev_bridge):
    record = dev_bridge.instance.store.get_biller("demo")
    dev_bridge.instance.store.put_biller(type(record)(record.name, record.biller_guid, "https://ic.example/sp",
                                                      record.settings, record.created_at))
    page = dev_bridge.client.get(f"/simulator/saml/{record.biller_guid}?account=101Invoice&ViewMode=0&DeepLinkID=1")
    assert page.status_code == 400
    assert "not to the simulator" in page.text


def test_every_process_of_an_instance_uses_the_same_simulator_key(dev_bridge):
    key_file = dev_bridge.directory / "certs" / KEY_FILE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    second = open_instance(load_settings(dev_bridge.init.config), clock=dev_bridge.clock)
    try:
        assert second.extras["simulator"].keys == dev_bridge.instance.extras["simulator"].keys
    finally:
        second.close()


def test_simulator_is_absent_when_disabled(tmp_path, clock):
    for bridge in make_dev_bridge(tmp_path / "prod", clock, simulator=False):
        assert bridge.client.get("/simulator/metadata").status_code == 404
        assert bridge.instance.registry.find(f"{BASE_URL}/simulator/metadata") is None
