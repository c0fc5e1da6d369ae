"""The IdP metadata says which algorithms the bridge accepts (SAML V2.0 Metadata Profile for Algorithm Support)
and, when configured, that it wants every AuthnRequest signed."""

from __future__ import annotations

import base64

import pytest
from conftest import reopened
from lxml import etree
from saml_peers import OneLoginSP, authn_request_xml, redirect_url, xmlsec1_verify

from bridge.saml.signing import accepted_digest_methods, accepted_signature_methods
from bridge.saml.xml import ALG, ALGSUPPORT_XSD, MD, METADATA_XSD, is_schema_valid, parse_untrusted

SSO = "https://bridge.test/saml/sso"
PAYER = {"email": "pat.payer@example.com", "account_number": "101Invoice", "role": "owner"}
SHA256 = ("http://www.w3.org/2001/04/xmlenc#sha256", "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256")


def _algorithms(metadata: bytes, local: str) -> list[str]:
    root = parse_untrusted(metadata)
    return [el.get("Algorithm") for el in root.findall(f"{MD}Extensions/{{{ALG}}}{local}")]


def test_metadata_lists_the_sha256_family_most_preferred_first(sqlite_bridge):
    metadata = sqlite_bridge.metadata()
    digests, methods = _algorithms(metadata, "DigestMethod"), _algorithms(metadata, "SigningMethod")
    assert (digests[0], methods[0]) == SHA256
    assert digests == list(accepted_digest_methods(allow_sha1=False))
    assert methods == list(accepted_signature_methods(allow_sha1=False))
    assert not any("sha1" in algorithm for algorithm in digests + methods)


def test_metadata_with_the_extensions_is_schema_valid(sqlite_bridge):
    root = parse_untrusted(sqlite_bridge.metadata())
    assert is_schema_valid(root, METADATA_XSD)
    extensions = root.findall(f"{MD}Extensions/*")
    assert len(extensions) == 6
    for element in extensions:  # the metadata schema takes Extensions laxly: check each against its own schema
        assert is_schema_valid(etree.fromstring(etree.tostring(element)), ALGSUPPORT_XSD), element.tag


def test_signed_metadata_with_the_extensions_still_verifies(sqlite_bridge):
    with reopened(sqlite_bridge, idp="sign_metadata = true\n") as node:
        metadata = node.metadata()
    root = parse_untrusted(metadata)
    assert [etree.QName(child).localname for child in root][:2] == ["Signature", "Extensions"]  # schema order
    assert is_schema_valid(root, METADATA_XSD)
    active = node.instance.keyring.current.active
    assert xmlsec1_verify(metadata, active.certificate.pem, node="EntityDescriptor").returncode == 0


def test_allow_sha1_adds_sha1_last(sqlite_bridge):
    with reopened(sqlite_bridge, idp="allow_sha1 = true\n") as node:
        metadata = node.metadata()
    assert _algorithms(metadata, "DigestMethod")[-1] == "http://www.w3.org/2000/09/xmldsig#sha1"
    assert _algorithms(metadata, "SigningMethod")[-1] == "http://www.w3.org/2000/09/xmldsig#rsa-sha1"
    assert _algorithms(metadata, "SigningMethod")[0] == SHA256[1]


def _want_signed(metadata: bytes) -> str | None:
    return parse_untrusted(metadata).find(f"{MD}IDPSSODescriptor").get("WantAuthnRequestsSigned")


def test_want_authn_requests_signed_is_false_by_default(sqlite_bridge):
    assert _want_signed(sqlite_bridge.metadata()) == "false"


@pytest.fixture
def wants_signed(sqlite_bridge):
    """An instance with idp.want_authn_requests_signed = true and a payer signed in to an SP whose own
    metadata does not say it signs."""
    with reopened(sqlite_bridge, idp="want_authn_requests_signed = true\n") as node:
        sp = OneLoginSP(keys=None)
        node.trust(sp)
        node.add_biller("city", sp.entity_id)
        assert node.launch("city", **PAYER).status_code == 303
        yield node, sp


def test_the_metadata_says_so(wants_signed):
    node, _sp = wants_signed
    assert _want_signed(node.metadata()) == "true"


@pytest.mark.parametrize("binding", ["redirect", "post"])
def test_an_unsigned_request_is_refused_even_from_an_sp_that_does_not_say_it_signs(wants_signed, binding):
    node, sp = wants_signed
    xml = authn_request_xml(issuer=sp.entity_id, destination=SSO, request_id="_unsigned")
    if binding == "redirect":
        answer = node.sso_redirect(redirect_url(SSO, xml))
    else:
        answer = node.sso_post({"SAMLRequest": base64.b64encode(xml).decode()})
    assert answer.status_code == 400
    assert "idp.want_authn_requests_signed" in answer.text
    assert node.audit("login.issued") == []


@pytest.mark.parametrize("binding", ["redirect", "post"])
def test_a_signed_request_is_answered(wants_signed, binding):
    node, sp = wants_signed
    sp.sign_requests = True  # its metadata still says AuthnRequestsSigned="false": the IdP's rule applies
    if binding == "redirect":
        url, request_id = sp.start_redirect()
        answer = node.sso_redirect(url)
    else:
        fields, request_id = sp.start_post()
        answer = node.sso_post(fields)
    assert sp.consume(node.posted(answer), request_id).name_id == PAYER["email"]
