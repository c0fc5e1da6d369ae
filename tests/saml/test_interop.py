"""Independent SAML SPs (python3-saml strict, pysaml2) and xmlsec1 accept what the bridge emits."""

from __future__ import annotations

import pytest
from saml_peers import OneLoginSP, PySaml2SP, xmlsec1_verify

from bridge.keys.material import Certificate
from bridge.saml.xml import METADATA_XSD, PROTOCOL_XSD, is_schema_valid, parse_untrusted

PAYER = {"email": "pat.payer@example.com", "account_number": "101Invoice", "role": "owner"}


def _signed_in(bridge, sp):
    """Launch a payer so the bridge holds a session, as the partner portal would."""
    bridge.add_biller("city", sp.entity_id)
    launched = bridge.launch("city", **PAYER)
    assert launched.status_code == 303
    return launched


def _claims(consumed) -> dict[str, str]:
    return {name: values[0] for name, values in consumed.attributes.items()}


@pytest.mark.parametrize("binding", ["redirect", "post"])
def test_python3_saml_strict_sp_accepts_the_response(sqlite_bridge, binding):
    sp = OneLoginSP()
    sqlite_bridge.trust(sp)
    _signed_in(sqlite_bridge, sp)
    if binding == "redirect":
        url, request_id = sp.start_redirect(relay_state="https://sp-onelogin.test/landing")
        answer = sqlite_bridge.sso_redirect(url)
    else:
        fields, request_id = sp.start_post(relay_state="https://sp-onelogin.test/landing")
        answer = sqlite_bridge.sso_post(fields)
    consumed = sp.consume(sqlite_bridge.posted(answer), request_id)
    assert consumed.name_id == PAYER["email"]
    assert consumed.name_id_format == "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
    assert _claims(consumed) == {"Email": PAYER["email"], "LoginType": "1", "AccountNumber": "101Invoice"}
    assert consumed.relay_state == "https://sp-onelogin.test/landing"


@pytest.mark.parametrize("binding", ["redirect", "post"])
def test_python3_saml_sp_with_signed_requests_is_accepted(sqlite_bridge, binding):
    sp = OneLoginSP(sign_requests=True)
    sqlite_bridge.trust(sp)
    _signed_in(sqlite_bridge, sp)
    if binding == "redirect":
        url, request_id = sp.start_redirect()
        assert "Signature=" in url
        answer = sqlite_bridge.sso_redirect(url)
    else:
        fields, request_id = sp.start_post()
        answer = sqlite_bridge.sso_post(fields)
    consumed = sp.consume(sqlite_bridge.posted(answer), request_id)
    assert consumed.name_id == PAYER["email"]


def test_python3_saml_sp_that_wants_signed_messages_gets_a_signed_response(sqlite_bridge):
    sp = OneLoginSP(want_messages_signed=True)
    sqlite_bridge.trust(sp)
    sqlite_bridge.instance.settings.sp[sp.entity_id] = sqlite_bridge.instance.settings.sp_settings(
        sp.entity_id).model_copy(update={"sign_response": True})
    _signed_in(sqlite_bridge, sp)
    url, request_id = sp.start_redirect()
    consumed = sp.consume(sqlite_bridge.posted(sqlite_bridge.sso_redirect(url)), request_id)
    assert consumed.name_id == PAYER["email"]


@pytest.mark.parametrize("sign_requests", [False, True])
def test_pysaml2_sp_accepts_the_response(sqlite_bridge, sign_requests):
    sp = PySaml2SP(sign_requests=sign_requests)
    sqlite_bridge.trust(sp)
    _signed_in(sqlite_bridge, sp)
    url, request_id = sp.start_redirect(relay_state="rs-42")
    consumed = sp.consume(sqlite_bridge.posted(sqlite_bridge.sso_redirect(url)), request_id)
    assert consumed.name_id == PAYER["email"]
    assert _claims(consumed) == {"Email": PAYER["email"], "LoginType": "1", "AccountNumber": "101Invoice"}
    assert consumed.relay_state == "rs-42"


def test_xmlsec1_verifies_the_assertion_with_the_certificate_from_our_metadata(sqlite_bridge, onelogin_sp):
    _signed_in(sqlite_bridge, onelogin_sp)
    url, _ = onelogin_sp.start_redirect()
    form = sqlite_bridge.posted(sqlite_bridge.sso_redirect(url))
    metadata = parse_untrusted(sqlite_bridge.metadata())
    b64 = metadata.findtext(".//{http://www.w3.org/2000/09/xmldsig#}X509Certificate")
    cert = Certificate.from_base64_der(b64)
    result = xmlsec1_verify(form.xml, cert.pem)
    assert result.returncode == 0, result.stderr
    assert "OK" in result.stdout + result.stderr


def test_xmlsec1_rejects_a_tampered_assertion(sqlite_bridge, onelogin_sp):
    _signed_in(sqlite_bridge, onelogin_sp)
    url, _ = onelogin_sp.start_redirect()
    form = sqlite_bridge.posted(sqlite_bridge.sso_redirect(url))
    tampered = form.xml.replace(b"101Invoice", b"999Invoice")
    cert = sqlite_bridge.instance.keyring.active.certificate
    assert xmlsec1_verify(tampered, cert.pem).returncode != 0


def test_response_validates_against_the_saml_protocol_schema(sqlite_bridge, onelogin_sp):
    _signed_in(sqlite_bridge, onelogin_sp)
    url, _ = onelogin_sp.start_redirect()
    form = sqlite_bridge.posted(sqlite_bridge.sso_redirect(url))
    assert is_schema_valid(parse_untrusted(form.xml), PROTOCOL_XSD)


def test_metadata_validates_against_the_saml_metadata_schema(sqlite_bridge):
    assert is_schema_valid(parse_untrusted(sqlite_bridge.metadata()), METADATA_XSD)


def test_assertion_encrypted_for_the_sp_is_decrypted_and_verified_by_python3_saml(sqlite_bridge):
    sp = OneLoginSP(want_assertions_encrypted=True)
    sqlite_bridge.trust(sp)
    registered = sqlite_bridge.instance.registry.get(sp.entity_id)
    assert registered.encryption_certs, "python3-saml publishes an encryption key in its metadata"
    settings = sqlite_bridge.instance.settings
    settings.sp[sp.entity_id] = settings.sp_settings(sp.entity_id).model_copy(update={"encrypt_assertion": True})
    _signed_in(sqlite_bridge, sp)
    url, request_id = sp.start_redirect()
    form = sqlite_bridge.posted(sqlite_bridge.sso_redirect(url))
    assert b"EncryptedAssertion" in form.xml
    assert b"101Invoice" not in form.xml and PAYER["email"].encode() not in form.xml
    assert b"aes256-gcm" in form.xml and b"rsa-oaep" in form.xml and b"rsa-1_5" not in form.xml
    consumed = sp.consume(form, request_id)
    assert _claims(consumed)["AccountNumber"] == "101Invoice"
