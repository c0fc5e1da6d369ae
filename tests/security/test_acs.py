"""ACS URL lookalikes: a Response goes only to a location listed byte for byte in the SP's trusted metadata.

Each lookalike is refused both by ``choose_acs`` itself and end to end at
the SSO endpoint with a payer signed in (Keycloak CVE-2024-8883 and the
redirect-validation bypasses that followed it).
"""

from __future__ import annotations

import pytest
from saml_peers import OneLoginSP, authn_request_xml

from bridge.errors import ConfigError, SamlError
from bridge.saml.sp_metadata import parse_sp_metadata
from bridge.trust.service_providers import choose_acs
from security.hostile import SSO_URL, redirect_query
from security.hostile import assert_refused as refused

ACS = "https://sp-onelogin.test/acs"
LOOKALIKES = {
    "trailing-slash": ACS + "/",
    "prefix-extended": ACS + "x",
    "path-suffix": ACS + "/../evil",
    "query-added": ACS + "?next=https://evil.test",
    "fragment-added": ACS + "#x",
    "host-case": "https://SP-ONELOGIN.test/acs",
    "path-case": "https://sp-onelogin.test/ACS",
    "userinfo": "https://attacker@sp-onelogin.test/acs",
    "userinfo-host-swap": "https://sp-onelogin.test@evil.test/acs",
    "other-port": "https://sp-onelogin.test:8443/acs",
    "explicit-default-port": "https://sp-onelogin.test:443/acs",
    "plain-http": "http://sp-onelogin.test/acs",
    "subdomain-of-evil": "https://sp-onelogin.test.evil.test/acs",
    "percent-encoded-slash": "https://sp-onelogin.test%2Facs",
    "trailing-dot-host": "https://sp-onelogin.test./acs",
    "javascript-scheme": "javascript:alert(document.domain)//https://sp-onelogin.test/acs",
}


@pytest.fixture(scope="module")
def registered(sp_keys):  # type: ignore[no-untyped-def]
    """The SP as the registry holds it, parsed from python3-saml's own metadata (no instance needed)."""
    (sp,) = parse_sp_metadata(OneLoginSP(keys=sp_keys).metadata(), source="sp.xml")
    assert sp.default_acs().location == ACS
    return sp


@pytest.mark.parametrize("url", list(LOOKALIKES.values()), ids=list(LOOKALIKES))
def test_choose_acs_refuses_a_lookalike(registered, url):
    with pytest.raises(SamlError, match="not in the service provider's metadata"):
        choose_acs(registered, url=url, index=None, binding=None)


@pytest.mark.parametrize("name", ["trailing-slash", "userinfo-host-swap", "other-port", "plain-http", "host-case"])
def test_sso_refuses_a_lookalike_acs_with_a_payer_signed_in(sqlite_bridge, plain_sp, name):
    xml = authn_request_xml(issuer=plain_sp.entity_id, destination=SSO_URL, acs_url=LOOKALIKES[name],
                            request_id=f"_acs_{name.replace('-', '_')}")
    response = sqlite_bridge.sso_redirect(f"/saml/sso?{redirect_query(xml)}")
    refused(sqlite_bridge, response, 400, "invalid_saml_request")
    assert LOOKALIKES[name] not in response.text


def test_control_the_exact_metadata_acs_is_answered(sqlite_bridge, plain_sp):
    xml = authn_request_xml(issuer=plain_sp.entity_id, destination=SSO_URL, acs_url=ACS)
    assert sqlite_bridge.posted(sqlite_bridge.sso_redirect(f"/saml/sso?{redirect_query(xml)}")).action == ACS


def test_acs_index_not_in_metadata_is_refused(sqlite_bridge, plain_sp):
    xml = authn_request_xml(issuer=plain_sp.entity_id, destination=SSO_URL,
                            extra_attrs=' AssertionConsumerServiceIndex="7"')
    refused(sqlite_bridge, sqlite_bridge.sso_redirect(f"/saml/sso?{redirect_query(xml)}"), 400,
            "invalid_saml_request")


def test_artifact_protocol_binding_is_refused(sqlite_bridge, plain_sp):
    xml = authn_request_xml(issuer=plain_sp.entity_id, destination=SSO_URL,
                            extra_attrs=' ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Artifact"')
    refused(sqlite_bridge, sqlite_bridge.sso_redirect(f"/saml/sso?{redirect_query(xml)}"), 400,
            "invalid_saml_request")


def test_destination_of_another_idp_is_refused(sqlite_bridge, plain_sp):
    xml = authn_request_xml(issuer=plain_sp.entity_id, destination="https://other-idp.test/saml/sso")
    refused(sqlite_bridge, sqlite_bridge.sso_redirect(f"/saml/sso?{redirect_query(xml)}"), 400,
            "invalid_saml_request")


def _metadata_with_acs(sp_keys, location: str) -> bytes:  # type: ignore[no-untyped-def]
    return OneLoginSP("https://sp-acs.test/metadata", "https://sp-acs.test/acs", keys=sp_keys).metadata().replace(
        b'Location="https://sp-acs.test/acs"', f'Location="{location}"'.encode()
    )


@pytest.mark.parametrize("location", ["javascript:alert(1)", "data:text/html,x", "ftp://sp-acs.test/acs",
                                      "http://sp-acs.test/acs"])
def test_metadata_acs_that_is_not_https_is_never_used(sp_keys, location):
    with pytest.raises(ConfigError, match="no usable HTTP-POST AssertionConsumerService"):
        parse_sp_metadata(_metadata_with_acs(sp_keys, location), source="acs.xml")


@pytest.mark.parametrize("location", ["javascript:alert(1)", "data:text/html,x", "ftp://sp-acs.test/acs"])
def test_allow_http_acs_still_refuses_non_http_schemes(sp_keys, location):
    # allow_http_acs relaxes https to http for one SP; it must not let javascript: or data: into the POST form
    # (crewjam/saml CVE-2023-45683).
    with pytest.raises(ConfigError, match="no usable HTTP-POST AssertionConsumerService"):
        parse_sp_metadata(_metadata_with_acs(sp_keys, location), source="acs.xml",
                          allow_http_for=frozenset({"https://sp-acs.test/metadata"}))


def test_allow_http_acs_accepts_plain_http(sp_keys):
    (sp,) = parse_sp_metadata(_metadata_with_acs(sp_keys, "http://sp-acs.test/acs"), source="acs.xml",
                              allow_http_for=frozenset({"https://sp-acs.test/metadata"}))
    assert sp.default_acs().location == "http://sp-acs.test/acs"
