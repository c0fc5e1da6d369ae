"""The lean XML-DSig signer (bridge.saml.signing.sign) checked by verifiers we did not write.

test_interop.py covers the assertion signature through python3-saml and
pysaml2; these cover the other documents the same signer produces (the
whole Response, signed metadata) and python-xmlsec's own verification.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import xmlsec
from lxml import etree
from saml_peers import xmlsec1_verify
from signing_keys import make_signing_key

from bridge.keys.material import SigningKey
from bridge.saml import assertions
from bridge.saml.idp_metadata import IdpEndpoints, build_idp_metadata
from bridge.saml.signing import sign
from bridge.saml.xml import NS, PROTOCOL_XSD, is_schema_valid


@pytest.fixture(scope="module")
def key(tmp_path_factory: pytest.TempPathFactory) -> SigningKey:
    return make_signing_key(tmp_path_factory.mktemp("key"))


def _response(key: SigningKey, *, sign_response: bool) -> bytes:
    now = datetime.now(UTC)
    spec = assertions.ResponseSpec(
        issuer="https://bridge.test/saml/metadata", audience="https://sp.test/metadata",
        destination="https://sp.test/acs", in_response_to="_req1", response_id="_resp1", assertion_id="_assert1",
        session_index="_s1", now=now, authn_instant=now, lifetime=300, skew=90,
    )
    subject = assertions.Subject(
        name_id="pat.payer@example.com", name_id_format=assertions.NAMEID_EMAIL,
        attributes={"Email": "pat.payer@example.com", "LoginType": "1", "AccountNumber": "A&B <7>"},
    )
    return assertions.build_response(spec, subject, key, sign_response=sign_response)


def test_xmlsec1_verifies_both_signatures_of_a_signed_response(key):
    xml = _response(key, sign_response=True)
    # xmlsec1 checks the first signature in the document: the Response's here. The Assertion's is checked
    # on the Assertion taken out alone (exclusive c14n makes its signature independent of the Response).
    done = xmlsec1_verify(xml, key.certificate.pem, node="Response")
    assert done.returncode == 0, done.stderr
    assertion = etree.tostring(etree.fromstring(xml).find(f"{{{NS['saml']}}}Assertion"))
    done = xmlsec1_verify(assertion, key.certificate.pem, node="Assertion")
    assert done.returncode == 0, done.stderr


def test_signed_response_still_follows_the_protocol_schema(key):
    assert is_schema_valid(etree.fromstring(_response(key, sign_response=True)), PROTOCOL_XSD)


def test_python_xmlsec_verifies_the_assertion_signature(key):
    root = etree.fromstring(_response(key, sign_response=False))
    assertion = root.find(f"{{{NS['saml']}}}Assertion")
    xmlsec.tree.add_ids(assertion, ["ID"])
    ctx = xmlsec.SignatureContext()
    ctx.key = xmlsec.Key.from_memory(key.certificate.pem.encode(), xmlsec.KeyFormat.CERT_PEM)
    ctx.verify(assertion.find(f"{{{NS['ds']}}}Signature"))  # raises xmlsec.Error when it does not verify


def test_xmlsec1_verifies_signed_metadata(key):
    body = build_idp_metadata(
        IdpEndpoints(entity_id="https://bridge.test/saml/metadata", sso_url="https://bridge.test/saml/sso"),
        [key.certificate], now=datetime.now(UTC), valid_for=86400, cache_duration=3600,
        organization="Test", sign_with=key,
    )
    done = xmlsec1_verify(body, key.certificate.pem, node="EntityDescriptor")
    assert done.returncode == 0, done.stderr


def test_xmlsec1_rejects_a_response_altered_after_signing(key):
    xml = _response(key, sign_response=True).replace(b"https://sp.test/acs", b"https://evil.test/acs")
    assert xmlsec1_verify(xml, key.certificate.pem, node="Response").returncode != 0


def test_an_element_without_an_ncname_id_is_not_signed(key):
    element = etree.Element("{urn:x}Thing", ID="1not-an-ncname")
    with pytest.raises(ValueError, match="NCName"):
        sign(element, key, after=None)
