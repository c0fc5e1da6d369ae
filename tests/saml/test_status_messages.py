"""Every non-success status we sign carries a fixed message of ours, never the requester's words.

A signature over attacker-chosen text is a signing oracle (the ruby-saml and python3-saml parser-
differential CVEs): an AuthnRequest whose NameIDPolicy Format was unsupported used to get a signed
Response repeating that Format. Each status path is driven with a marker in every field a requester
controls and the signed message is searched for it.
"""

from __future__ import annotations

import base64
import zlib
from urllib.parse import parse_qs, urlsplit

import pytest
from lxml import etree
from onelogin.saml2.auth import OneLogin_Saml2_Auth
from saml_peers import OneLoginSP, authn_request_xml, parse_post_page, redirect_url

from bridge.saml.assertions import STATUS_INVALID_NAMEID_POLICY, STATUS_MESSAGES, STATUS_NO_PASSIVE

SSO = "https://bridge.test/saml/sso"
MARK = "Zq7Mark"  # in every requester-controlled field below
SAMLP = "{urn:oasis:names:tc:SAML:2.0:protocol}"
HOSTILE_BODY = (
    f'<samlp:Extensions><x:e xmlns:x="urn:{MARK}:ext">{MARK}-extension</x:e></samlp:Extensions>'
    f'<samlp:NameIDPolicy Format="urn:{MARK}:nameid-format" SPNameQualifier="{MARK}-qualifier" AllowCreate="true"/>'
    f'<samlp:RequestedAuthnContext><saml:AuthnContextClassRef>urn:{MARK}:context</saml:AuthnContextClassRef>'
    "</samlp:RequestedAuthnContext>"
    f'<samlp:Scoping><samlp:IDPList><samlp:IDPEntry ProviderID="urn:{MARK}:idp" Name="{MARK}"/></samlp:IDPList>'
    "</samlp:Scoping>"
)


@pytest.fixture
def sp(sqlite_bridge) -> OneLoginSP:
    sp = OneLoginSP()
    sqlite_bridge.trust(sp)
    return sp


def _hostile(sp: OneLoginSP, clock, *, passive: bool) -> bytes:  # type: ignore[no-untyped-def]
    attrs = f' ProviderName="{MARK}-provider" Consent="urn:{MARK}:consent"'
    if passive:
        attrs += ' IsPassive="true"'
    return authn_request_xml(issuer=sp.entity_id, issue_instant=clock(), request_id="_plainid1",
                             extra_attrs=attrs, body=HOSTILE_BODY)


def _status_of(xml: bytes) -> tuple[str, str]:
    root = etree.fromstring(xml)
    codes = [node.get("Value") for node in root.iter(f"{SAMLP}StatusCode")]
    return codes[-1], root.findtext(f"{SAMLP}Status/{SAMLP}StatusMessage") or ""


def test_an_unsupported_nameid_format_is_answered_with_our_words_only(sqlite_bridge, sp):
    sqlite_bridge.add_biller("city", sp.entity_id)
    assert sqlite_bridge.launch("city", email="pat@example.com", account_number="1", role="owner").status_code == 303
    response = sqlite_bridge.sso_redirect(redirect_url(SSO, _hostile(sp, sqlite_bridge.clock, passive=False),
                                                       f"{MARK}-relay"))
    form = parse_post_page(response.text)
    assert _status_of(form.xml) == (STATUS_INVALID_NAMEID_POLICY, STATUS_MESSAGES[STATUS_INVALID_NAMEID_POLICY])
    assert MARK.encode() not in form.xml


def test_a_passive_request_without_a_session_is_answered_with_our_words_only(sqlite_bridge, sp):
    response = sqlite_bridge.sso_redirect(redirect_url(SSO, _hostile(sp, sqlite_bridge.clock, passive=True),
                                                       f"{MARK}-relay"))
    form = parse_post_page(response.text)
    assert _status_of(form.xml) == (STATUS_NO_PASSIVE, STATUS_MESSAGES[STATUS_NO_PASSIVE])
    assert MARK.encode() not in form.xml


def test_a_logout_response_carries_nothing_of_the_logout_request(sqlite_bridge):
    sp = OneLoginSP(sign_requests=True, slo_url="https://sp-onelogin.test/slo")
    sqlite_bridge.trust(sp)
    auth = OneLogin_Saml2_Auth(sp._request_data(), sp._settings())
    answer = sqlite_bridge.sso_redirect(auth.logout(name_id=f"{MARK}@example.com", session_index=f"{MARK}-s1",
                                                    return_to=f"https://sp-onelogin.test/{MARK}"))
    assert answer.status_code == 303
    query = parse_qs(urlsplit(answer.headers["location"]).query)
    xml = zlib.decompress(base64.b64decode(query["SAMLResponse"][0]), -15)
    code, message = _status_of(xml)
    assert code.endswith(":Success") and message == ""
    assert MARK.encode() not in xml


def test_every_status_message_we_sign_is_one_of_ours():
    """The builder takes no message at all: the text comes from this table, for the status given."""
    import inspect

    from bridge.saml.assertions import build_error_response

    assert "message" not in inspect.signature(build_error_response).parameters
    assert all(MARK not in text and text.isprintable() for text in STATUS_MESSAGES.values())
