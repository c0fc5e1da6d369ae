"""Loopback is an IP literal in 127.0.0.0/8, ``::1``, or exactly ``localhost``: one predicate, used everywhere.

Plain http is allowed only for loopback (development and tests). A prefix match let
``127.0.0.1.evil.example`` through: an SP's metadata could name such an ACS and receive
assertions in cleartext at a public host. Each place that takes a URL is checked end to end
with look-alikes, and the predicate itself against every spelling resolvers or browsers
might read differently.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from saml_peers import OneLoginSP

import bridge
from bridge.billers import Biller, validate_biller
from bridge.config import settings_from_dict
from bridge.errors import ConfigError, ValidationError
from bridge.saml.sp_metadata import parse_sp_metadata
from bridge.trust.fetch import redirect_target
from bridge.trust.source_state import configured_sources
from bridge.urls import http_url, https_or_loopback, is_loopback_host

LOOPBACK = ["127.0.0.1", "127.0.0.2", "127.255.255.254", "::1", "[::1]", "localhost", "LocalHost"]
LOOKALIKES = {
    "ip-prefix-of-a-name": "127.0.0.1.evil.example",
    "localhost-prefix-of-a-name": "localhost.evil.example",
    "hex-shorthand": "0x7f.1",
    "short-form": "127.1",
    "decimal-integer": "2130706433",
    "octal-leading-zero": "0177.0.0.1",
    "ipv4-mapped-ipv6": "::ffff:127.0.0.1",
    "ipv4-mapped-ipv6-bracketed": "[::ffff:127.0.0.1]",
    "ipv6-zone-id": "::1%eth0",
    "trailing-dot-name": "localhost.",
    "trailing-dot-ip": "127.0.0.1.",
    "fullwidth-idn": "".join(chr(ord(c) + 0xFEE0) for c in "localhost"),  # browsers fold it to ASCII; we do not guess
    "punycode": "xn--localhost-",
    "cyrillic-o": "l\u043ecalhost",
    "subdomain-of-localhost": "evil.localhost",
    "unspecified": "0.0.0.0",
    "private": "10.0.0.1",
    "public": "evil.example",
    "empty": "",
}


@pytest.mark.parametrize("host", LOOPBACK)
def test_a_loopback_literal_or_localhost_is_loopback(host):
    assert is_loopback_host(host)


@pytest.mark.parametrize("host", list(LOOKALIKES.values()), ids=list(LOOKALIKES))
def test_a_lookalike_is_not_loopback(host):
    assert not is_loopback_host(host)


@pytest.mark.parametrize("host", ["127.0.0.1:8000", "[::1]:8000", "localhost:8000"])
def test_plain_http_to_loopback_with_a_port_is_allowed(host):
    assert https_or_loopback(f"http://{host}/acs") == f"http://{host}/acs"


URL_LOOKALIKES = {
    **{name: f"http://{host}/acs" for name, host in LOOKALIKES.items() if ":" not in host and host},
    "ipv4-mapped-ipv6": "http://[::ffff:127.0.0.1]/acs",
    "userinfo-loopback": "http://127.0.0.1@evil.example/acs",
    "userinfo-localhost-port": "http://localhost:80@evil.example/acs",
    "backslash-authority": "http://evil.example\\@127.0.0.1/acs",
    "tab-in-host": "http://127.0.0.1\t.evil.example/acs",
    "percent-encoded-dot": "http://127%2e0.0.1/acs",
    "no-scheme": "//127.0.0.1/acs",
    "other-scheme": "ftp://127.0.0.1/acs",
    "javascript": "javascript://127.0.0.1/%0aalert(1)",
    "bad-port": "http://127.0.0.1:99999/acs",
}


@pytest.mark.parametrize("url", list(URL_LOOKALIKES.values()), ids=list(URL_LOOKALIKES))
def test_plain_http_to_a_lookalike_is_refused(url):
    with pytest.raises(ValueError):
        https_or_loopback(url)


def test_https_to_any_host_is_allowed():
    assert https_or_loopback("https://127.0.0.1.evil.example/acs") == "https://127.0.0.1.evil.example/acs"


def test_an_ambiguous_https_url_is_refused():
    with pytest.raises(ValueError, match="backslash"):
        https_or_loopback("https://sp.example\\@evil.example/acs")


def test_the_relaxed_http_rule_still_refuses_non_web_schemes():
    assert http_url("http://sp.example.test/acs") == "http://sp.example.test/acs"
    with pytest.raises(ValueError, match="must be an http"):
        http_url("javascript:alert(1)//http://x")


# -- every place that takes a URL ---------------------------------------------------------------------------

EVIL = "http://127.0.0.1.evil.example"
SECRETS = {"tickets": {"secrets": ["t" * 32]}, "session": {"secrets": ["s" * 32]}}


def test_sp_metadata_with_a_lookalike_http_acs_is_not_trusted(sp_keys):
    metadata = OneLoginSP("https://sp-lookalike.test/metadata", f"{EVIL}/acs", keys=sp_keys).metadata()
    with pytest.raises(ConfigError, match="no usable HTTP-POST AssertionConsumerService"):
        parse_sp_metadata(metadata, source="sp.xml")


def test_sp_metadata_with_a_loopback_http_acs_is_trusted(sp_keys):
    metadata = OneLoginSP("https://sp-local.test/metadata", "http://127.0.0.1:9/acs", keys=sp_keys).metadata()
    (sp,) = parse_sp_metadata(metadata, source="sp.xml")
    assert sp.default_acs().location == "http://127.0.0.1:9/acs"


def test_a_lookalike_base_url_is_refused(tmp_path):
    with pytest.raises(ConfigError, match=r"base_url.*must be an https URL"):
        settings_from_dict({**SECRETS, "idp": {"base_url": "http://localhost.evil.example"}}, base_dir=tmp_path)


def test_a_lookalike_metadata_source_is_refused(tmp_path):
    source = {"type": "url", "url": f"{EVIL}/sp.xml", "entity_ids": ["https://sp.test/metadata"]}
    settings = settings_from_dict({**SECRETS, "metadata": {"sources": [source]}}, base_dir=tmp_path)
    with pytest.raises(ConfigError, match="must be an https URL"):
        configured_sources(settings)


def test_a_metadata_redirect_to_a_lookalike_is_refused():
    with pytest.raises(ConfigError, match="refused a redirect"):
        redirect_target("http://127.0.0.1:9/sp.xml", f"{EVIL}/sp.xml", https_only=False)


@pytest.mark.parametrize("field", ["link_base", "login_url", "return_url", "css_url", "ic_api_base", "payment_webhook"])
def test_a_biller_url_on_a_lookalike_is_refused(field):
    biller = Biller(name="city", biller_guid="c09d08fb-a969-4778-bb58-b46a8e9224e7",
                    sp_entity_id="https://sp.test/metadata", **{field: f"{EVIL}/x"})
    with pytest.raises(ValidationError) as refused:
        validate_biller(biller)
    assert refused.value.field == field


def test_a_portal_origin_on_a_lookalike_is_refused():
    biller = Biller(name="city", biller_guid="c09d08fb-a969-4778-bb58-b46a8e9224e7",
                    sp_entity_id="https://sp.test/metadata", portal_origins=("http://localhost.evil.example",))
    with pytest.raises(ValidationError, match="portal_origins"):
        validate_biller(biller)


def test_no_module_other_than_bridge_urls_matches_loopback_by_hand():
    """One source of truth: a new prefix check anywhere in the package fails here."""
    hand_made = re.compile(r"""startswith\(\s*["'](127\.|localhost|::1|\[::1)|==\s*["']localhost["']""")
    package = Path(bridge.__file__).parent
    offenders = [str(path.relative_to(package)) for path in package.rglob("*.py")
                 if path.name != "urls.py" and hand_made.search(path.read_text())]
    assert offenders == []
