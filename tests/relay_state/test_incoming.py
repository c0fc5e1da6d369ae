"""RelayState an SP sends: accepted up to limits.max_relay_state (1 KiB by default) and echoed byte for byte.

SAML Bindings 3.4.3 limits the *sender* to 80 bytes; SimpleSAMLphp and others send their return URL
(~100 bytes), and refusing it refused the whole login.
"""

from __future__ import annotations

import pytest
from conftest import reopened
from saml_peers import OneLoginSP, authn_request_xml
from security.hostile import SSO_URL, redirect_query
from security.hostile import assert_refused as refused

PAYER = {"email": "pat.payer@example.com", "account_number": "101Invoice", "role": "owner"}
# What a SimpleSAMLphp SP sends: its return URL, 112 bytes.
RETURN_URL = "https://sp-onelogin.test/simplesaml/module.php/saml/sp/login?ReturnTo=%2Fportal%2Fbills%3Fview%3Dlist"


def _signed_in(bridge, sp: OneLoginSP) -> None:
    bridge.trust(sp)
    bridge.add_biller("city", sp.entity_id)
    assert bridge.launch("city", **PAYER).status_code == 303


@pytest.mark.parametrize("binding", ["redirect", "post"])
def test_a_return_url_over_80_bytes_is_echoed_byte_for_byte(sqlite_bridge, binding):
    sp = OneLoginSP()
    _signed_in(sqlite_bridge, sp)
    assert len(RETURN_URL.encode()) > 80
    if binding == "redirect":
        url, request_id = sp.start_redirect(relay_state=RETURN_URL)
        answer = sqlite_bridge.sso_redirect(url)
    else:
        fields, request_id = sp.start_post(relay_state=RETURN_URL)
        answer = sqlite_bridge.sso_post(fields)
    consumed = sp.consume(sqlite_bridge.posted(answer), request_id)
    assert consumed.relay_state == RETURN_URL


def test_relay_state_of_exactly_the_limit_is_echoed(sqlite_bridge):
    sp = OneLoginSP()
    _signed_in(sqlite_bridge, sp)
    value = "é" * 500 + "x" * 24  # 1024 bytes, 524 characters
    xml = authn_request_xml(issuer=sp.entity_id, destination=SSO_URL, request_id="_full")
    form = sqlite_bridge.posted(sqlite_bridge.sso_redirect(f"/saml/sso?{redirect_query(xml, value)}"))
    assert form.fields["RelayState"] == value


def test_the_limit_is_configurable(sqlite_bridge):
    sp = OneLoginSP()
    _signed_in(sqlite_bridge, sp)
    with reopened(sqlite_bridge, append="\n[limits]\nmax_relay_state = 120\n") as node:
        xml = authn_request_xml(issuer=sp.entity_id, destination=SSO_URL, request_id="_over")
        refused(node, node.sso_redirect(f"/saml/sso?{redirect_query(xml, 'r' * 121)}"), 400, "invalid_saml_request")


def test_relay_state_that_is_not_utf8_is_refused_rather_than_altered(sqlite_bridge):
    sp = OneLoginSP()
    _signed_in(sqlite_bridge, sp)
    xml = authn_request_xml(issuer=sp.entity_id, destination=SSO_URL, request_id="_latin1")
    query = redirect_query(xml, "x").replace("RelayState=x", "RelayState=caf%E9")
    refused(sqlite_bridge, sqlite_bridge.sso_redirect(f"/saml/sso?{query}"), 400, "invalid_saml_request")


def test_a_limit_below_the_80_bytes_of_the_bindings_is_a_config_error(tmp_path):
    from bridge.config import settings_from_dict
    from bridge.errors import ConfigError

    with pytest.raises(ConfigError, match=r"limits\.max_relay_state"):
        settings_from_dict({"tickets": {"secrets": ["t"]}, "session": {"secrets": ["s"]},
                            "limits": {"max_relay_state": 79}}, base_dir=tmp_path)
