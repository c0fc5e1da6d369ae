"""The Assertion is written in its exclusive-c14n form: lxml's own c14n of what we send must give the
bytes we digested, whatever the values hold (bridge.saml.assertions writes the XML as text)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import xmlsec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree
from signing_keys import make_signing_key

from bridge.keys.material import SigningKey
from bridge.saml import assertions
from bridge.saml.xml import ASSERTION_XSD, NS, PROTOCOL_XSD, is_schema_valid


@pytest.fixture(scope="module")
def key(tmp_path_factory: pytest.TempPathFactory) -> SigningKey:
    return make_signing_key(tmp_path_factory.mktemp("key"))

# Every character XML 1.0 allows, the markup-significant ones made likely.
_CHARS = st.one_of(
    st.sampled_from('&<>"\'\t\n\r {}%#;=:/'),
    st.characters(blacklist_categories=("Cs", "Cc"), max_codepoint=0x2FFFF).filter(
        lambda c: c not in "\ufffe\uffff"
    ),
)
_VALUE = st.text(_CHARS, min_size=1, max_size=40)
_NCNAME = st.from_regex(r"_[A-Za-z0-9_.\-]{1,30}", fullmatch=True)


def _spec(values: dict[str, str], ids: tuple[str, str]) -> assertions.ResponseSpec:
    now = datetime(2030, 5, 6, 7, 8, 9, tzinfo=UTC)
    return assertions.ResponseSpec(
        issuer=values["issuer"], audience=values["audience"], destination=values["destination"],
        in_response_to=values.get("in_response_to"), response_id=ids[0], assertion_id=ids[1],
        session_index=values["session"], now=now, authn_instant=now, lifetime=300, skew=90,
    )


def _assertion(document: bytes) -> etree._Element:
    found = etree.fromstring(document).find(f"{{{NS['saml']}}}Assertion")
    assert found is not None
    return found


def _canonical_without_signature(assertion: etree._Element) -> bytes:
    assertion.remove(assertion.find(f"{{{NS['ds']}}}Signature"))
    return etree.tostring(assertion, method="c14n", exclusive=True, with_comments=False)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    values=st.fixed_dictionaries(
        {"issuer": _VALUE, "audience": _VALUE, "destination": _VALUE, "session": _VALUE, "name_id": _VALUE},
        optional={"in_response_to": _VALUE},
    ),
    attributes=st.dictionaries(_VALUE, _VALUE, min_size=1, max_size=4),
    ids=st.tuples(_NCNAME, _NCNAME).filter(lambda pair: pair[0] != pair[1]),
)
def test_what_we_digest_is_lxmls_exclusive_c14n_of_what_we_send(key, values, attributes, ids):
    spec = _spec(values, ids)
    subject = assertions.Subject(name_id=values["name_id"], name_id_format=assertions.NAMEID_EMAIL,
                                 attributes=attributes)
    head, canonical_rest, _sent_rest = assertions._assertion_parts(spec, subject)
    document = assertions.build_response(spec, subject, key, sign_response=False)
    assertion = _assertion(document)
    xmlsec.tree.add_ids(assertion, ["ID"])
    context = xmlsec.SignatureContext()
    context.key = xmlsec.Key.from_memory(key.certificate.pem.encode(), xmlsec.KeyFormat.CERT_PEM)
    context.verify(assertion.find(f"{{{NS['ds']}}}Signature"))  # libxmlsec1's own c14n agrees
    assert _canonical_without_signature(assertion) == (head + canonical_rest).encode()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=_VALUE)
def test_the_values_come_back_exactly_as_given(key, value):
    spec = _spec({"issuer": "https://idp.test", "audience": value, "destination": "https://sp.test/acs",
                  "session": "_s"}, ("_r", "_a"))
    subject = assertions.Subject(name_id=value, name_id_format=assertions.NAMEID_EMAIL, attributes={"Email": value})
    assertion = _assertion(assertions.build_response(spec, subject, key, sign_response=False))
    assert assertion.findtext(f".//{{{NS['saml']}}}NameID") == value
    assert assertion.findtext(f".//{{{NS['saml']}}}Audience") == value
    assert assertion.findtext(f".//{{{NS['saml']}}}AttributeValue") == value


def test_the_xs_prefix_of_xsi_type_is_declared_in_what_we_send(key):
    spec = _spec({"issuer": "https://idp.test", "audience": "https://sp.test", "destination": "https://sp.test/acs",
                  "session": "_s"}, ("_r", "_a"))
    subject = assertions.Subject(name_id="pat@example.com", name_id_format=assertions.NAMEID_EMAIL,
                                 attributes={"Email": "pat@example.com"})
    document = assertions.build_response(spec, subject, key, sign_response=False)
    value = etree.fromstring(document).find(f".//{{{NS['saml']}}}AttributeValue")
    assert value.nsmap["xs"] == NS["xs"]
    assert is_schema_valid(etree.fromstring(document), PROTOCOL_XSD)
    assert is_schema_valid(_assertion(document), ASSERTION_XSD)
