"""Unicode, markup and control characters in every value the bridge writes into HTML, XML or URLs.

The auto-POST page must parse back to exactly the values sent; the assertion
XML must stay well-formed with the values intact; RelayState over
``limits.max_relay_state`` (1 KiB) or carrying control characters is refused.
"""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import parse_qs, urlsplit

import pytest
from lxml import etree
from saml_peers import authn_request_xml

from security.hostile import SSO_URL, redirect_query
from security.hostile import assert_refused as refused

RELAY_STATES = {
    "script": "<script>alert(1)</script>",
    "attribute-break": '"><img src=x onerror=alert(1)>',
    "single-quote": "' onmouseover='alert(1)",
    "entity": "&lt;&amp;&#x3c;",
    "unicode": "café ☕ 漢字 \U0001f600",
    "javascript-url": "javascript:alert(1)",
}


class _Scripts(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[dict[str, str | None]] = []
        self.inputs: dict[str, str | None] = {}
        self.event_handlers: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "script":
            self.scripts.append(values)
        if tag == "input":
            self.inputs[values.get("name") or ""] = values.get("value")
        self.event_handlers += [name for name, _ in attrs if name.startswith("on")]


def _page(harness, sp, relay_state: str, request_id: str = "_rs"):  # type: ignore[no-untyped-def]
    xml = authn_request_xml(issuer=sp.entity_id, destination=SSO_URL, request_id=request_id)
    return harness.sso_redirect(f"/saml/sso?{redirect_query(xml, relay_state)}")


@pytest.mark.parametrize("value", list(RELAY_STATES.values()), ids=list(RELAY_STATES))
def test_relay_state_is_escaped_and_round_trips_exactly(sqlite_bridge, plain_sp, value):
    response = _page(sqlite_bridge, plain_sp, value)
    assert response.status_code == 200
    parser = _Scripts()
    parser.feed(response.text)
    assert parser.inputs["RelayState"] == value
    assert len(parser.scripts) == 1  # only our nonce'd auto-submit
    assert parser.scripts[0].get("nonce")
    assert parser.event_handlers == []


def test_relay_state_of_1025_bytes_is_refused(sqlite_bridge, plain_sp):
    refused(sqlite_bridge, _page(sqlite_bridge, plain_sp, "a" * 1025), 400, "invalid_saml_request")


def test_relay_state_limit_is_counted_in_utf8_bytes_not_characters(sqlite_bridge, plain_sp):
    # 513 two-byte characters: 513 characters, 1026 bytes.
    refused(sqlite_bridge, _page(sqlite_bridge, plain_sp, "é" * 513), 400, "invalid_saml_request")


@pytest.mark.parametrize("char", ["\x00", "\x01", "\x1b", "\x7f", "\r", "\n"], ids=repr)
def test_relay_state_with_control_characters_is_refused(sqlite_bridge, plain_sp, char):
    refused(sqlite_bridge, _page(sqlite_bridge, plain_sp, f"next{char}page"), 400, "invalid_saml_request")


@pytest.mark.parametrize("issuer", ['https://x.test/"><script>alert(1)</script>', "https://x.test/\u202etxt.exe",
                                    "https://sp-onelogin.test/metadata\u200b"], ids=["markup", "rtl", "zero-width"])
def test_issuer_with_odd_characters_is_unknown_and_not_reflected_raw(sqlite_bridge, plain_sp, issuer):
    escaped = issuer.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    xml = authn_request_xml(issuer=escaped, destination=SSO_URL, request_id="_odd")
    response = sqlite_bridge.sso_redirect(f"/saml/sso?{redirect_query(xml)}")
    refused(sqlite_bridge, response, 400, "unknown_sp")
    assert "<script>alert(1)" not in response.text


def test_schema_error_quoting_attacker_values_is_escaped_in_the_page(sqlite_bridge, plain_sp):
    xml = authn_request_xml(issuer=plain_sp.entity_id, destination=SSO_URL).replace(
        b'Version="2.0"', b'Version="2.0" ForceAuthn="&lt;script&gt;alert(1)&lt;/script&gt;"'
    )
    response = sqlite_bridge.sso_redirect(f"/saml/sso?{redirect_query(xml)}")
    refused(sqlite_bridge, response, 400, "invalid_saml_request")
    assert "<script>alert(1)" not in response.text


def test_comment_truncated_issuer_does_not_match_a_trusted_sp(sqlite_bridge, plain_sp):
    # CVE-2017-11427: reading .text stops at the comment and would see the trusted "https://sp-onelogin.test".
    issuer = plain_sp.entity_id.replace("/metadata", "") + "<!---->.evil/metadata"
    xml = authn_request_xml(issuer=issuer, destination=SSO_URL, request_id="_comment")
    refused(sqlite_bridge, sqlite_bridge.sso_redirect(f"/saml/sso?{redirect_query(xml)}"), 400, "unknown_sp")


def test_comment_inside_a_trusted_issuer_reads_as_the_whole_text(sqlite_bridge, plain_sp):
    # The converse: a comment splitting the real entity ID still names that SP (string(), not .text).
    issuer = plain_sp.entity_id.replace("sp-onelogin", "sp-<!-- x -->onelogin")
    xml = authn_request_xml(issuer=issuer, destination=SSO_URL, request_id="_comment2")
    form = sqlite_bridge.posted(sqlite_bridge.sso_redirect(f"/saml/sso?{redirect_query(xml)}"))
    assert form.action == plain_sp.acs_url


def test_email_with_xml_specials_stays_well_formed_in_the_assertion(sqlite_bridge, plain_sp):
    email = "o'brien&co+{x}@example.com"
    sqlite_bridge.client.cookies.clear()
    assert sqlite_bridge.launch("city", **{"email": email, "account_number": "A-1.b_2", "role": "owner"}
                                ).status_code == 303
    xml = authn_request_xml(issuer=plain_sp.entity_id, destination=SSO_URL, request_id="_email")
    form = sqlite_bridge.posted(sqlite_bridge.sso_redirect(f"/saml/sso?{redirect_query(xml)}"))
    root = etree.fromstring(form.xml)
    name_id = root.find(".//{urn:oasis:names:tc:SAML:2.0:assertion}NameID")
    assert name_id.text == email


def test_account_number_reaches_the_ic_link_unchanged(sqlite_bridge, plain_sp):
    sqlite_bridge.client.cookies.clear()
    launched = sqlite_bridge.launch("city", **{"email": "pat@example.com", "account_number": "A-1.b_2",
                                               "role": "owner"})
    query = parse_qs(urlsplit(launched.headers["location"]).query)
    assert query == {"account": ["A-1.b_2"], "ViewMode": ["1"], "DeepLinkID": ["1"]}


def test_the_ic_link_url_encodes_an_account_that_needs_it():
    # The API admits no such account today; the link builder must not rely on that.
    from bridge.invoicecloud.links import build_link

    link = build_link("https://ic.test/saml", "guid-1", account="A&ViewMode=0 #x/é", view_mode=1, deep_link=3)
    assert "A&ViewMode" not in link and " " not in link and "#" not in link
    query = parse_qs(urlsplit(link).query)
    assert query == {"account": ["A&ViewMode=0 #x/é"], "ViewMode": ["1"], "DeepLinkID": ["3"]}
