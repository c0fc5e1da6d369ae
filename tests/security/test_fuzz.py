"""Property tests (hypothesis) for the untrusted-input parsers and the API validators, and the bounded fuzz run.

Properties: whatever the input, only BridgeError subclasses escape, and
every call returns quickly (hypothesis' deadline catches a hang). Crashes
the fuzzer finds are pinned in ``REGRESSIONS`` below.
"""

from __future__ import annotations

import base64
import contextlib
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.billers import Biller
from bridge.delegation.launches import validate_launch
from bridge.errors import BridgeError
from bridge.invoicecloud.links import resolve_deep_link, resolve_login_type, resolve_view_mode
from bridge.saml import bindings
from bridge.saml.authn_request import parse_authn_request

ROOT = Path(__file__).resolve().parents[2]
FAST = settings(max_examples=100, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
BILLER = Biller(name="city", biller_guid="c09d08fb-a969-4778-bb58-b46a8e9224e7", sp_entity_id="https://sp.test")
XML_PIECES = st.sampled_from([
    "<samlp:AuthnRequest ", 'xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ',
    'xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ', 'ID="_x" ', 'Version="2.0" ',
    'IssueInstant="2026-01-01T00:00:00Z" ', 'AssertionConsumerServiceIndex="1" ', ">", "/>",
    "<saml:Issuer>", "</saml:Issuer>", "https://sp.test", "</samlp:AuthnRequest>", "<!--", "-->",
    "<!DOCTYPE x>", "&amp;", "&x;", "<![CDATA[", "]]>", "\x00", "\u202e", "<ds:Signature/>",
    'ForceAuthn="maybe" ', 'AssertionConsumerServiceIndex="-1" ', 'IssueInstant="not a date" ',
])
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=80),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3),
    max_leaves=8,
)


def _only_bridge_errors(call) -> None:  # type: ignore[no-untyped-def]
    with contextlib.suppress(BridgeError):
        call()


def _deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
    return compressor.compress(data) + compressor.flush()


@FAST
@given(st.binary(max_size=4096))
def test_parse_authn_request_raises_only_bridge_errors_on_bytes(data):
    _only_bridge_errors(lambda: parse_authn_request(data))


@FAST
@given(st.lists(XML_PIECES, max_size=20).map("".join))
def test_parse_authn_request_raises_only_bridge_errors_on_xml_like_text(text):
    _only_bridge_errors(lambda: parse_authn_request(text.encode()))


@FAST
@given(st.text(max_size=4096))
def test_decode_post_raises_only_bridge_errors(value):
    _only_bridge_errors(lambda: bindings.decode_post(value, max_message=32 * 1024, max_inflated=128 * 1024))


@FAST
@given(st.text(max_size=4096))
def test_decode_redirect_raises_only_bridge_errors_on_text(value):
    _only_bridge_errors(lambda: bindings.decode_redirect(value, max_message=32 * 1024, max_inflated=128 * 1024))


@FAST
@given(st.binary(max_size=4096))
def test_decode_redirect_of_any_deflated_bytes_is_bounded(data):
    encoded = base64.b64encode(_deflate(data)).decode()
    _only_bridge_errors(lambda: bindings.decode_redirect(encoded, max_message=32 * 1024, max_inflated=1024))


@FAST
@given(st.text(max_size=2048))
def test_parse_redirect_query_raises_only_bridge_errors(query):
    _only_bridge_errors(lambda: bindings.parse_redirect_query(query))


@FAST
@given(st.text(max_size=1100))
def test_check_relay_state_accepts_only_short_printable_values(value):
    try:
        assert bindings.check_relay_state(value, max_bytes=1024) == value
        assert len(value.encode()) <= 1024 and all(ord(c) >= 0x20 and ord(c) != 0x7F for c in value)
    except BridgeError:
        pass


@FAST
@given(st.dictionaries(st.sampled_from(["email", "account_number", "role", "login_type", "deep_link", "view_mode",
                                        "flow", "biller", "x"]), JSON_VALUES, max_size=8))
def test_validate_launch_raises_only_bridge_errors(body):
    _only_bridge_errors(lambda: validate_launch(BILLER, body))


@FAST
@given(st.text(max_size=80), st.text(max_size=60))
def test_validate_launch_output_is_strict_whenever_it_accepts(email, account):
    try:
        launch = validate_launch(BILLER, {"email": email, "account_number": account, "role": "owner"})
    except BridgeError:
        return
    assert launch.email.isascii() and launch.account_number.isascii()
    assert not any(c in launch.email + launch.account_number for c in "\r\n\x00<>\"")


@FAST
@given(JSON_VALUES)
def test_invoicecloud_resolvers_raise_only_bridge_errors(value):
    _only_bridge_errors(lambda: resolve_deep_link(value, allow_unknown=True))  # type: ignore[arg-type]
    _only_bridge_errors(lambda: resolve_view_mode(value))
    _only_bridge_errors(lambda: resolve_login_type({"owner": "1", "default": "1"}, role=None, login_type=value))
    if isinstance(value, str) or value is None:
        _only_bridge_errors(lambda: resolve_login_type({"owner": "1"}, role=value, login_type=None))


# Inputs the fuzzers once crashed on, or that sit on an edge worth keeping (each must raise a BridgeError only).
REGRESSIONS = {
    "json-nesting-recursion": None,  # see test_api.py::test_json_nested_ten_thousand_deep_is_400_not_500
    "unicode-digits-deep-link": "\u0661",  # str.isdigit() is true for Arabic-Indic digits
    "huge-acs-index": (b'<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" '
                       b'xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_b" Version="2.0" '
                       b'IssueInstant="2026-01-01T00:00:00Z" AssertionConsumerServiceIndex="99999999999999999999">'
                       b"<saml:Issuer>x</saml:Issuer></samlp:AuthnRequest>"),
}


def test_regression_unicode_digit_deep_link_is_normalised_to_a_plain_int():
    # Found by hypothesis: int() reads Arabic-Indic digits. Harmless because the value leaves as an int,
    # never as the original text (it ends up in the IC link and RelayState).
    resolved = resolve_deep_link(REGRESSIONS["unicode-digits-deep-link"], allow_unknown=True)
    assert resolved == 1 and type(resolved) is int


def test_regression_out_of_range_acs_index_is_a_saml_error():
    with pytest.raises(BridgeError):
        parse_authn_request(REGRESSIONS["huge-acs-index"])


def test_fuzz_target_runs_bounded_and_reports_its_run_count():
    result = subprocess.run(
        [sys.executable, str(ROOT / "fuzz" / "fuzz_authn_request.py"), "--seconds", "3", "--engine", "random"],
        capture_output=True, text=True, timeout=60,
    )
    summary = [line for line in result.stdout.splitlines() if line.startswith("fuzz: ")]
    print(summary[-1] if summary else result.stdout[-500:])
    assert result.returncode == 0, result.stderr[-2000:]
    assert summary and " 0 crashes" in summary[-1]
