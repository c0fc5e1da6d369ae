"""Response headers: CSP with a nonce'd auto-submit only, frame-ancestors per biller, HSTS on https only,
nosniff everywhere, no-referrer on pages carrying SAML messages, no-store on every SAML and API response."""

from __future__ import annotations

import re

import pytest
from saml_peers import OneLoginSP, authn_request_xml

from bridge.config import load_settings
from bridge.instance import init_instance, open_instance
from bridge.web.app import create_app
from security.hostile import PAYER, SSO_URL, redirect_query


def _post_page(harness, sp, request_id: str = "_hdr"):  # type: ignore[no-untyped-def]
    xml = authn_request_xml(issuer=sp.entity_id, destination=SSO_URL, request_id=request_id)
    response = harness.sso_redirect(f"/saml/sso?{redirect_query(xml)}")
    assert response.status_code == 200
    return response


def _csp(response) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {part.split(" ", 1)[0]: part.split(" ", 1)[1] if " " in part else ""
            for part in (p.strip() for p in response.headers["content-security-policy"].split(";")) if part}


def test_saml_post_page_allows_only_its_own_nonced_script_and_works_without_javascript(sqlite_bridge, plain_sp):
    response = _post_page(sqlite_bridge, plain_sp)
    csp = _csp(response)
    nonce = re.search(r"'nonce-([^']+)'", csp["script-src"]).group(1)
    assert csp["script-src"] == f"'nonce-{nonce}'"
    assert "unsafe-inline" not in response.headers["content-security-policy"]
    assert re.findall(r"<script([^>]*)>", response.text) == [f' nonce="{nonce}"']
    assert csp["form-action"] == "https://sp-onelogin.test"
    assert csp["default-src"] == "'none'"
    # the form still posts with scripts off
    assert '<button type="submit" id="continue">Continue to Invoice Cloud</button>' in response.text


def test_each_response_gets_a_fresh_nonce(sqlite_bridge, plain_sp):
    first = _csp(_post_page(sqlite_bridge, plain_sp, "_n1"))["script-src"]
    second = _csp(_post_page(sqlite_bridge, plain_sp, "_n2"))["script-src"]
    assert first != second


def test_saml_post_page_is_never_cached_and_sends_no_referrer(sqlite_bridge, plain_sp):
    response = _post_page(sqlite_bridge, plain_sp)
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-content-type-options"] == "nosniff"


def test_frame_ancestors_default_to_none(sqlite_bridge, plain_sp):
    assert _csp(_post_page(sqlite_bridge, plain_sp))["frame-ancestors"] == "'none'"


def test_frame_ancestors_list_only_the_billers_portal_origins(sqlite_bridge, sp_keys):
    sp = OneLoginSP("https://sp-framed.test/metadata", "https://sp-framed.test/acs", keys=sp_keys)
    sqlite_bridge.trust(sp)
    sqlite_bridge.add_biller("framed", sp.entity_id, portal_origins=("https://portal.example.com",))
    assert sqlite_bridge.launch("framed", **PAYER, view_mode=1).status_code == 303
    response = _post_page(sqlite_bridge, sp)
    assert _csp(response)["frame-ancestors"] == "https://portal.example.com"
    assert "x-frame-options" not in response.headers  # it would override frame-ancestors in older browsers


@pytest.mark.parametrize("path", ["/saml/sso", "/saml/sso?SAMLRequest=%%%", "/launch?ticket=x", "/logout"])
def test_browser_pages_and_errors_are_no_store_nosniff_no_referrer(sqlite_bridge, path):
    response = sqlite_bridge.client.get(path, follow_redirects=False)
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    # A page with no action may be read in any frame (docs/embedding.md); it can submit no form anywhere.
    csp = _csp(response)
    assert csp["frame-ancestors"] == "*" and csp["form-action"] == "'none'"
    assert csp["script-src"].startswith("'nonce-") and csp["default-src"] == "'none'"


def test_launch_redirect_is_no_store(sqlite_bridge, plain_sp):
    response = sqlite_bridge.launch("city", **PAYER)
    assert response.status_code == 303
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["referrer-policy"] == "no-referrer"


@pytest.mark.parametrize("authorised", [True, False])
def test_api_responses_are_no_store_json_nosniff(sqlite_bridge, plain_sp, authorised):
    key = sqlite_bridge.api_keys["city"] if authorised else "bk_x_y"
    response = sqlite_bridge.create_login("city", key=key, **PAYER)
    assert response.status_code == (201 if authorised else 401)
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-content-type-options"] == "nosniff"


def test_hsts_is_sent_over_https(sqlite_bridge):
    assert sqlite_bridge.client.get("/healthz").headers["strict-transport-security"].startswith("max-age=")


def test_hsts_is_not_sent_on_a_plain_http_development_base_url(tmp_path, clock):
    result = init_instance(tmp_path / "dev", base_url="http://127.0.0.1:8000", now=clock(),
                           store_url=f"sqlite:///{tmp_path / 'dev.db'}", simulator=False)
    instance = open_instance(load_settings(result.config), clock=clock)
    try:
        from starlette.testclient import TestClient

        with TestClient(create_app(instance, background=False), base_url="http://127.0.0.1:8000") as client:
            assert "strict-transport-security" not in client.get("/healthz").headers
    finally:
        instance.close()
