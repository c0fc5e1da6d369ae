"""DTDs, entities, XInclude and XSLT in every XML the bridge parses: AuthnRequests (both bindings) and SP metadata.

SAML never needs a DTD: any DOCTYPE is refused before parsing, in any
encoding, and nothing outside the message (files, URLs) is ever read.
"""

from __future__ import annotations

import time

import pytest
from saml_peers import authn_request_xml

from bridge.errors import ConfigError
from bridge.saml.sp_metadata import parse_sp_metadata
from security.hostile import SSO_URL, post_fields, redirect_query
from security.hostile import assert_refused as refused

BILLION_LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + b"".join(b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10) for i in range(1, 10))
    + b"]>"
)


def _with_prolog(prolog: bytes, issuer: str, body: str = "") -> bytes:
    return prolog + authn_request_xml(issuer=issuer, destination=SSO_URL, body=body)


def test_billion_laughs_via_post_is_refused_fast(sqlite_bridge, plain_sp):
    xml = _with_prolog(BILLION_LAUGHS, "&lol9;")
    started = time.monotonic()
    response = sqlite_bridge.sso_post(post_fields(xml))
    refused(sqlite_bridge, response, 400, "invalid_saml_request")
    assert time.monotonic() - started < 2
    assert "lollol" not in response.text


def test_external_entity_via_redirect_is_refused_and_no_file_is_read(sqlite_bridge, plain_sp):
    prolog = b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    xml = _with_prolog(prolog, plain_sp.entity_id + "&xxe;")
    response = sqlite_bridge.sso_redirect(f"/saml/sso?{redirect_query(xml)}")
    refused(sqlite_bridge, response, 400, "invalid_saml_request")
    assert "root:" not in response.text


def test_parameter_entity_to_a_remote_dtd_is_refused(sqlite_bridge, plain_sp):
    prolog = b'<!DOCTYPE r [<!ENTITY % remote SYSTEM "http://127.0.0.1:9/evil.dtd"> %remote;]>'
    refused(sqlite_bridge, sqlite_bridge.sso_post(post_fields(_with_prolog(prolog, plain_sp.entity_id))),
            400, "invalid_saml_request")


def test_lower_case_doctype_is_refused(sqlite_bridge, plain_sp):
    prolog = b'<!doctype r [<!entity x "y">]>'
    refused(sqlite_bridge, sqlite_bridge.sso_post(post_fields(_with_prolog(prolog, plain_sp.entity_id))),
            400, "invalid_saml_request")


def test_utf16_encoded_doctype_with_entities_is_refused(sqlite_bridge, plain_sp):
    # The byte check for "<!DOCTYPE" does not see UTF-16; the parser's own DTD ban must.
    text = (
        '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
        + authn_request_xml(issuer=plain_sp.entity_id + "&xxe;", destination=SSO_URL).decode()
    )
    response = sqlite_bridge.sso_post(post_fields(text.encode("utf-16")))
    refused(sqlite_bridge, response, 400, "invalid_saml_request")
    assert "root:" not in response.text


def test_xinclude_in_the_issuer_is_refused_by_the_schema(sqlite_bridge, plain_sp):
    body = '<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="/etc/passwd" parse="text"/>'
    xml = authn_request_xml(issuer="", destination=SSO_URL).replace(
        b"<saml:Issuer></saml:Issuer>", f"<saml:Issuer>{body}</saml:Issuer>".encode()
    )
    response = sqlite_bridge.sso_post(post_fields(xml))
    refused(sqlite_bridge, response, 400, "invalid_saml_request")
    assert "root:" not in response.text


def test_xinclude_in_extensions_is_never_expanded(sqlite_bridge, plain_sp):
    # Extensions accepts foreign elements; XInclude must stay an inert element, not pull /etc/passwd in.
    body = ('<samlp:Extensions><xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="/etc/passwd" '
            'parse="text"/></samlp:Extensions>')
    xml = authn_request_xml(issuer=plain_sp.entity_id, destination=SSO_URL, body=body)
    form = sqlite_bridge.posted(sqlite_bridge.sso_post(post_fields(xml)))
    assert form.action == plain_sp.acs_url
    assert b"root:" not in form.xml


def test_xml_stylesheet_processing_instruction_is_not_applied(sqlite_bridge, plain_sp):
    prolog = b'<?xml-stylesheet type="text/xsl" href="file:///etc/passwd"?>'
    form = sqlite_bridge.posted(sqlite_bridge.sso_post(post_fields(_with_prolog(prolog, plain_sp.entity_id))))
    assert b"root:" not in form.xml


def test_sp_metadata_file_with_a_dtd_is_refused(sp_keys):
    from saml_peers import OneLoginSP

    metadata = OneLoginSP(keys=sp_keys).metadata()
    hostile = b'<!DOCTYPE m [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>' + metadata.split(b"?>", 1)[-1]
    with pytest.raises(ConfigError, match="DTD"):
        parse_sp_metadata(hostile, source="hostile.xml")


def test_sp_metadata_folder_with_a_dtd_file_fails_the_registry_load(sqlite_bridge, sp_keys):
    from saml_peers import OneLoginSP

    metadata = OneLoginSP("https://sp-dtd.test/metadata", "https://sp-dtd.test/acs", keys=sp_keys).metadata()
    path = sqlite_bridge.directory / "metadata" / "dtd.xml"
    path.write_bytes(BILLION_LAUGHS + metadata.split(b"?>", 1)[-1])
    with pytest.raises(ConfigError):
        sqlite_bridge.reload_registry()
    assert sqlite_bridge.instance.registry.find("https://sp-dtd.test/metadata") is None


LOGOUT = (
    '<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" '
    'xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_lo" Version="2.0" IssueInstant="2026-01-01T00:00:00Z">'
    "<saml:Issuer>{issuer}</saml:Issuer><saml:NameID>pat.payer@example.com</saml:NameID></samlp:LogoutRequest>"
)


def test_logout_request_with_external_entity_via_post_is_refused(sqlite_bridge, plain_sp):
    xml = (b'<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
           + LOGOUT.format(issuer=plain_sp.entity_id + "&xxe;").encode())
    response = sqlite_bridge.client.post("/saml/slo", data=post_fields(xml), follow_redirects=False)
    refused(sqlite_bridge, response, 400, "invalid_saml_request")
    assert "root:" not in response.text


def test_logout_request_billion_laughs_via_redirect_is_refused(sqlite_bridge, plain_sp):
    xml = BILLION_LAUGHS + LOGOUT.format(issuer="&lol9;").encode()
    response = sqlite_bridge.client.get(f"/saml/slo?{redirect_query(xml)}", follow_redirects=False)
    refused(sqlite_bridge, response, 400, "invalid_saml_request")
