"""The SSO endpoint refuses every bad AuthnRequest with a clear 4xx page and posts nothing anywhere."""

from __future__ import annotations

import base64
from datetime import timedelta
from urllib.parse import quote, urlencode

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from saml_peers import OneLoginSP, authn_request_xml, deflate_b64, parse_post_page, redirect_url

SSO = "https://bridge.test/saml/sso"
PAYER = {"email": "pat@example.com", "account_number": "101Invoice"}
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"


@pytest.fixture
def sp(sqlite_bridge) -> OneLoginSP:
    sp = OneLoginSP()
    sqlite_bridge.trust(sp)
    sqlite_bridge.add_biller("city", sp.entity_id)
    sqlite_bridge.launch("city", **PAYER)  # the payer has a bridge session: only the request is at fault
    return sp


@pytest.fixture
def signing_sp(sqlite_bridge) -> OneLoginSP:
    sp = OneLoginSP(sign_requests=True)
    sqlite_bridge.trust(sp)
    sqlite_bridge.add_biller("city", sp.entity_id)
    sqlite_bridge.launch("city", **PAYER)
    return sp


def refused(bridge, response, code: str, status: int = 400, issued_before: int = 0) -> None:
    assert response.status_code == status, response.text[:400]
    assert response.headers["content-type"].startswith("text/html")
    assert f"Reference: {code}" in response.text
    assert "SAMLResponse" not in response.text and "Traceback" not in response.text
    assert len(bridge.audit("login.issued")) == issued_before


def request_xml(sp: OneLoginSP, **overrides) -> bytes:
    return authn_request_xml(issuer=overrides.pop("issuer", sp.entity_id), **overrides)


def signed_redirect(xml: bytes, key_pem: str, sig_alg: str, hash_alg: hashes.HashAlgorithm) -> str:
    query = urlencode({"SAMLRequest": deflate_b64(xml), "SigAlg": sig_alg}, quote_via=quote)
    key = serialization.load_pem_private_key(key_pem.encode(), None)
    signature = key.sign(query.encode(), padding.PKCS1v15(), hash_alg)  # type: ignore[union-attr]
    return f"{SSO}?{query}&Signature={quote(base64.b64encode(signature).decode(), safe='')}"


def test_request_from_an_unknown_sp_is_refused(sqlite_bridge, sp):
    xml = request_xml(sp, issuer="https://stranger.test/metadata")
    refused(sqlite_bridge, sqlite_bridge.sso_redirect(redirect_url(SSO, xml)), "unknown_sp")


def test_acs_url_not_in_the_sp_metadata_is_refused(sqlite_bridge, sp):
    xml = request_xml(sp, acs_url="https://attacker.test/acs")
    refused(sqlite_bridge, sqlite_bridge.sso_redirect(redirect_url(SSO, xml)), "invalid_saml_request")


def test_request_naming_no_acs_gets_the_sp_default_acs(sqlite_bridge, sp):
    response = sqlite_bridge.sso_redirect(redirect_url(SSO, request_xml(sp)))
    assert parse_post_page(response.text).action == sp.acs_url


def test_unsigned_post_request_from_an_sp_that_signs_is_refused(sqlite_bridge, signing_sp):
    fields = {"SAMLRequest": base64.b64encode(request_xml(signing_sp)).decode()}
    refused(sqlite_bridge, sqlite_bridge.sso_post(fields), "bad_signature")


def test_redirect_signature_over_a_tampered_query_is_refused(sqlite_bridge, signing_sp):
    url = signed_redirect(request_xml(signing_sp), signing_sp.keys.key_pem, RSA_SHA256, hashes.SHA256())
    tampered = url.replace("SAMLRequest=", "RelayState=x&SAMLRequest=")
    refused(sqlite_bridge, sqlite_bridge.sso_redirect(tampered), "bad_signature")


def test_valid_hand_signed_redirect_request_is_accepted(sqlite_bridge, signing_sp):
    url = signed_redirect(request_xml(signing_sp), signing_sp.keys.key_pem, RSA_SHA256, hashes.SHA256())
    assert parse_post_page(sqlite_bridge.sso_redirect(url).text).action == signing_sp.acs_url


@pytest.mark.parametrize("value", ["%%%not-base64%%%", "AAAA====", "QUJD!!"])
def test_malformed_base64_is_refused(sqlite_bridge, sp, value):
    refused(sqlite_bridge, sqlite_bridge.sso_redirect(f"{SSO}?SAMLRequest={quote(value)}"), "invalid_saml_request")


def test_data_that_is_not_deflated_is_refused(sqlite_bridge, sp):
    raw = base64.b64encode(request_xml(sp)).decode()
    refused(sqlite_bridge, sqlite_bridge.sso_redirect(f"{SSO}?SAMLRequest={quote(raw)}"), "invalid_saml_request")


@pytest.mark.parametrize("xml", [b"<samlp:AuthnRequest", b"not xml at all", b"<a><b></a>"])
def test_malformed_xml_is_refused(sqlite_bridge, sp, xml):
    refused(sqlite_bridge, sqlite_bridge.sso_redirect(redirect_url(SSO, xml)), "invalid_saml_request")


def test_xml_with_a_dtd_and_entities_is_refused(sqlite_bridge, sp):
    xml = b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY e "x">]>' + request_xml(sp).replace(
        sp.entity_id.encode(), b"&e;")
    response = sqlite_bridge.sso_redirect(redirect_url(SSO, xml))
    refused(sqlite_bridge, response, "invalid_saml_request")
    assert "DTD" in response.text


@pytest.mark.parametrize("root", ["LogoutRequest", "Response", "ArtifactResolve"])
def test_message_that_is_not_an_authnrequest_is_refused(sqlite_bridge, sp, root):
    xml = request_xml(sp).replace(b"samlp:AuthnRequest", f"samlp:{root}".encode())
    response = sqlite_bridge.sso_redirect(redirect_url(SSO, xml))
    refused(sqlite_bridge, response, "invalid_saml_request")


def test_request_from_the_future_beyond_the_skew_is_refused(sqlite_bridge, sp):
    ahead = sqlite_bridge.clock() + timedelta(seconds=91)
    refused(sqlite_bridge, sqlite_bridge.sso_redirect(redirect_url(SSO, request_xml(sp, issue_instant=ahead))),
            "invalid_saml_request")


def test_request_within_the_skew_is_accepted(sqlite_bridge, sp):
    ahead = sqlite_bridge.clock() + timedelta(seconds=60)
    assert sqlite_bridge.sso_redirect(redirect_url(SSO, request_xml(sp, issue_instant=ahead))).status_code == 200


def test_request_without_saml_request_parameter_is_refused(sqlite_bridge, sp):
    refused(sqlite_bridge, sqlite_bridge.sso_redirect(SSO), "invalid_saml_request")


def test_unsupported_nameid_policy_gets_a_saml_error_status(sqlite_bridge, sp):
    policy = '<samlp:NameIDPolicy Format="urn:oasis:names:tc:SAML:2.0:nameid-format:kerberos"/>'
    response = sqlite_bridge.sso_redirect(redirect_url(SSO, request_xml(sp, body=policy)))
    form = parse_post_page(response.text)
    assert b"InvalidNameIDPolicy" in form.xml and b"Assertion" not in form.xml


def test_is_passive_without_a_session_answers_no_passive(sqlite_bridge):
    sp = OneLoginSP()
    sqlite_bridge.trust(sp)
    response = sqlite_bridge.sso_redirect(redirect_url(SSO, request_xml(sp, extra_attrs=' IsPassive="true"')))
    form = parse_post_page(response.text)
    assert form.action == sp.acs_url
    assert b"urn:oasis:names:tc:SAML:2.0:status:NoPassive" in form.xml
    assert b"<saml:Assertion" not in form.xml


def test_request_without_a_session_and_no_partner_login_page_is_refused(sqlite_bridge):
    sp = OneLoginSP()
    sqlite_bridge.trust(sp)
    sqlite_bridge.add_biller("city", sp.entity_id)
    response = sqlite_bridge.sso_redirect(redirect_url(SSO, request_xml(sp)))
    assert response.status_code == 404
    assert "portal" in response.text and "SAMLResponse" not in response.text


def test_refused_requests_are_audited_with_the_reason(sqlite_bridge, sp):
    sqlite_bridge.sso_redirect(redirect_url(SSO, request_xml(sp, acs_url="https://attacker.test/acs")))
    refusals = sqlite_bridge.audit("login.refused")
    assert len(refusals) == 1
    assert refusals[0].outcome == "refused" and refusals[0].detail.startswith("invalid_saml_request:")
    assert "attacker.test" not in refusals[0].detail
