"""Signature checks beyond wrapping: whose key counts, which algorithms, and what the signature covers.

Only certificates from the SP's trusted metadata verify a request; a cert in
KeyInfo is never used. SHA-1 is refused in both bindings; a Redirect
signature without SigAlg never defaults to anything.
"""

from __future__ import annotations

from urllib.parse import quote

from cryptography.hazmat.primitives import hashes
from saml_peers import authn_request_xml

from security.hostile import (
    DS,
    RSA_SHA1,
    SHA1,
    SSO_URL,
    dump,
    parse,
    post_fields,
    sign_xml,
    signature_of,
    signed_post_xml,
    signed_redirect_query,
)
from security.hostile import assert_refused as refused

XSLT = "http://www.w3.org/TR/1999/REC-xslt-19991116"
XPATH = "http://www.w3.org/TR/1999/REC-xpath-19991116"


def _request(sp, request_id: str = "_hostile1") -> bytes:  # type: ignore[no-untyped-def]
    return authn_request_xml(issuer=sp.entity_id, destination=SSO_URL, request_id=request_id)


def test_post_signed_with_an_attacker_key_and_its_cert_in_keyinfo_is_refused(sqlite_bridge, signing_sp, attacker_keys):
    xml = sign_xml(_request(signing_sp), attacker_keys.key_pem, attacker_keys.cert_pem)
    assert attacker_keys.cert_b64[:40].encode() in xml  # the attacker's cert really is in KeyInfo
    refused(sqlite_bridge, sqlite_bridge.sso_post(post_fields(xml)), 400, "bad_signature")


def test_post_signed_with_an_attacker_key_but_the_sps_cert_in_keyinfo_is_refused(
    sqlite_bridge, signing_sp, attacker_keys
):
    xml = sign_xml(_request(signing_sp), attacker_keys.key_pem, signing_sp.keys.cert_pem)
    refused(sqlite_bridge, sqlite_bridge.sso_post(post_fields(xml)), 400, "bad_signature")


def test_attacker_signed_request_for_an_sp_that_does_not_require_signatures_is_still_refused(
    sqlite_bridge, plain_sp, attacker_keys
):
    # A signature that is present is verified, even where it is optional.
    xml = sign_xml(_request(plain_sp), attacker_keys.key_pem, attacker_keys.cert_pem)
    refused(sqlite_bridge, sqlite_bridge.sso_post(post_fields(xml)), 400, "bad_signature")


def test_post_signature_method_rsa_sha1_is_refused(sqlite_bridge, signing_sp):
    xml = sign_xml(_request(signing_sp), signing_sp.keys.key_pem, signing_sp.keys.cert_pem,
                   sign_alg=RSA_SHA1, digest_alg=SHA1)
    response = sqlite_bridge.sso_post(post_fields(xml))
    refused(sqlite_bridge, response, 400, "bad_signature")
    assert "SHA-1" in response.text


def test_post_sha1_digest_under_an_sha256_signature_is_refused(sqlite_bridge, signing_sp):
    xml = sign_xml(_request(signing_sp), signing_sp.keys.key_pem, signing_sp.keys.cert_pem, digest_alg=SHA1)
    refused(sqlite_bridge, sqlite_bridge.sso_post(post_fields(xml)), 400, "bad_signature")


def test_post_signature_with_an_xslt_transform_is_refused(sqlite_bridge, signing_sp):
    root = parse(signed_post_xml(signing_sp))
    transforms = signature_of(root).find(f"{DS}SignedInfo/{DS}Reference/{DS}Transforms")
    transform = transforms.makeelement(f"{DS}Transform", {"Algorithm": XSLT})
    transform.append(parse(b'<xsl:stylesheet xmlns:xsl="http://www.w3.org/1999/XSL/Transform" version="1.0">'
                           b'<xsl:template match="/"><xsl:copy-of select="document(\'/etc/passwd\')"/>'
                           b"</xsl:template></xsl:stylesheet>"))
    transforms.append(transform)
    response = sqlite_bridge.sso_post(post_fields(dump(root)))
    refused(sqlite_bridge, response, 400, "bad_signature")
    assert "root:" not in response.text


def test_post_signature_with_an_xpath_transform_is_refused(sqlite_bridge, signing_sp):
    root = parse(signed_post_xml(signing_sp))
    transforms = signature_of(root).find(f"{DS}SignedInfo/{DS}Reference/{DS}Transforms")
    transform = transforms.makeelement(f"{DS}Transform", {"Algorithm": XPATH})
    etree_xpath = transform.makeelement(f"{DS}XPath", {})
    etree_xpath.text = "not(ancestor-or-self::*)"
    transform.append(etree_xpath)
    transforms.append(transform)
    refused(sqlite_bridge, sqlite_bridge.sso_post(post_fields(dump(root))), 400, "bad_signature")


def test_control_genuine_redirect_signature_with_sha256_is_answered(sqlite_bridge, signing_sp):
    query = signed_redirect_query(_request(signing_sp), signing_sp.keys.key_pem)
    form = sqlite_bridge.posted(sqlite_bridge.sso_redirect(f"/saml/sso?{query}"))
    assert form.action == signing_sp.acs_url


def test_redirect_sigalg_rsa_sha1_is_refused(sqlite_bridge, signing_sp):
    query = signed_redirect_query(_request(signing_sp), signing_sp.keys.key_pem, sig_alg=RSA_SHA1)
    response = sqlite_bridge.sso_redirect(f"/saml/sso?{query}")
    refused(sqlite_bridge, response, 400, "bad_signature")
    assert "SHA-1" in response.text


def test_redirect_signature_without_sigalg_is_refused_not_defaulted_to_sha1(sqlite_bridge, signing_sp):
    query = signed_redirect_query(_request(signing_sp), signing_sp.keys.key_pem, sig_alg=RSA_SHA1,
                                  send_sig_alg=False, hash_alg=hashes.SHA1())
    response = sqlite_bridge.sso_redirect(f"/saml/sso?{query}")
    refused(sqlite_bridge, response, 400, "bad_signature")
    assert "no SigAlg" in response.text


def test_redirect_signature_from_another_request_is_refused(sqlite_bridge, signing_sp):
    genuine = signed_redirect_query(_request(signing_sp, "_genuine"), signing_sp.keys.key_pem)
    other = signed_redirect_query(_request(signing_sp, "_forged"), signing_sp.keys.key_pem)
    signature = genuine.rsplit("&Signature=", 1)[1]
    forged = other.rsplit("&Signature=", 1)[0] + "&Signature=" + signature
    refused(sqlite_bridge, sqlite_bridge.sso_redirect(f"/saml/sso?{forged}"), 400, "bad_signature")


def test_redirect_relay_state_added_after_signing_is_refused(sqlite_bridge, signing_sp):
    query = signed_redirect_query(_request(signing_sp), signing_sp.keys.key_pem)
    tampered = query.replace("&SigAlg=", f"&RelayState={quote('https://evil.test/')}&SigAlg=", 1)
    refused(sqlite_bridge, sqlite_bridge.sso_redirect(f"/saml/sso?{tampered}"), 400, "bad_signature")


def test_redirect_signed_with_an_attacker_key_is_refused(sqlite_bridge, signing_sp, attacker_keys):
    query = signed_redirect_query(_request(signing_sp), attacker_keys.key_pem)
    refused(sqlite_bridge, sqlite_bridge.sso_redirect(f"/saml/sso?{query}"), 400, "bad_signature")


def test_redirect_unsigned_request_for_an_sp_that_signs_is_refused(sqlite_bridge, signing_sp):
    from security.hostile import redirect_query

    refused(sqlite_bridge, sqlite_bridge.sso_redirect(f"/saml/sso?{redirect_query(_request(signing_sp))}"),
            400, "bad_signature")


def test_redirect_carrying_an_xml_signature_inside_the_message_is_refused(sqlite_bridge, signing_sp):
    from security.hostile import redirect_query

    xml = sign_xml(_request(signing_sp), signing_sp.keys.key_pem, signing_sp.keys.cert_pem)
    refused(sqlite_bridge, sqlite_bridge.sso_redirect(f"/saml/sso?{redirect_query(xml)}"), 400, "bad_signature")


def test_redirect_repeated_saml_request_parameter_is_refused(sqlite_bridge, plain_sp):
    from security.hostile import redirect_query

    first = redirect_query(_request(plain_sp, "_one"))
    second = redirect_query(_request(plain_sp, "_two"))
    refused(sqlite_bridge, sqlite_bridge.sso_redirect(f"/saml/sso?{first}&{second}"), 400, "invalid_saml_request")
