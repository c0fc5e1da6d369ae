"""Properties of the whole service under hostile input (hypothesis, through the application over HTTP).

Over the partner API's JSON and over the fields of an AuthnRequest:

- never a 5xx, never a stack trace, and every API error in the ``{"error", "detail"}`` shape;
- nothing a requester sent appears inside a signed message, except the claims a partner supplied
  (the NameID and the attribute values) and, as the protocol requires, the request's ID in
  ``InResponseTo``.

Each generated text carries a marker, so "appears in the signed message" is a plain search that
cannot match by accident. One instance serves every example (a refused request changes nothing a
later example depends on; every AuthnRequest gets a fresh ID).
"""

from __future__ import annotations

import base64
import itertools
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import IC_LINK_BASE
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from lxml import etree
from saml_peers import OneLoginSP, authn_request_xml, parse_post_page, redirect_url
from store_backends import store_url

from security.hostile import LEAK_MARKERS

SSO = "https://bridge.test/saml/sso"
MARK = "Qx.9"  # the dot keeps it out of every base64 value (signatures, digests, certificates)
PROPERTY = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
NS = {"saml": "urn:oasis:names:tc:SAML:2.0:assertion"}
_ids = itertools.count()

# -- strategies ------------------------------------------------------------------------------------------

marked_text = st.text(max_size=40).map(lambda s: MARK + s)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(10**20), max_value=10**20)
    | st.floats(allow_nan=False, allow_infinity=False) | marked_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(marked_text, inner, max_size=3),
    max_leaves=6,
)
FIELDS = ["biller", "email", "account_number", "role", "login_type", "deep_link", "view_mode", "flow"]
VALID = {
    "email": st.from_regex(r"\A[a-z]{1,8}\Z").map(lambda s: f"{MARK.lower()}{s}@example.com"),
    "account_number": st.from_regex(r"\A[A-Za-z0-9]{1,12}\Z").map(lambda s: f"{MARK}{s}"),
    "role": st.sampled_from(["owner", "default"]),
    "deep_link": st.sampled_from([1, 2, 3, "bills", "autopay", "5", "pay-by-text"]),
    "view_mode": st.sampled_from([0, 1, "0", "1"]),
}


@st.composite
def api_bodies(draw: st.DrawFn) -> dict[str, Any]:
    """A valid login body, then zero or more fields replaced by anything JSON can hold, or extra keys."""
    body: dict[str, Any] = {"biller": "city", "flow": "idp-initiated"}
    for name, strategy in VALID.items():
        if name in ("email", "account_number") or draw(st.booleans()):
            body[name] = draw(strategy)
    for name in draw(st.lists(st.sampled_from([*FIELDS, MARK + "extra"]), max_size=3)):
        body[name] = draw(JSON_VALUES)
    return body


ATTRIBUTES = st.sampled_from([
    "ProviderName", "Consent", "ForceAuthn", "IsPassive", "AssertionConsumerServiceIndex",
    "AttributeConsumingServiceIndex", "ProtocolBinding", MARK + "Unknown",
])


@st.composite
def authn_requests(draw: st.DrawFn) -> tuple[str, str, str | None]:
    """(request ID, extra attributes, body elements) of an AuthnRequest, each value carrying the marker."""
    request_id = f"_{MARK}{next(_ids)}" + draw(st.from_regex(r"\A[A-Za-z0-9_.-]{0,20}\Z"))
    value = st.text(st.characters(blacklist_categories=["Cs", "Cc"], blacklist_characters='<>&"'),
                    max_size=30).map(lambda s: MARK + s)
    attrs = "".join(f' {name}="{draw(value)}"' for name in draw(st.lists(ATTRIBUTES, max_size=3, unique=True)))
    pieces = draw(st.lists(st.sampled_from([
        f'<samlp:NameIDPolicy Format="urn:{MARK}:format" SPNameQualifier="{MARK}q"/>',
        '<samlp:NameIDPolicy Format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"/>',
        f"<samlp:Extensions><x:e xmlns:x=\"urn:{MARK}\">{MARK}ext</x:e></samlp:Extensions>",
        f"<samlp:RequestedAuthnContext><saml:AuthnContextClassRef>urn:{MARK}:ctx</saml:AuthnContextClassRef>"
        "</samlp:RequestedAuthnContext>",
        f'<saml:Subject><saml:NameID>{MARK}@evil.example</saml:NameID></saml:Subject>',
        f"<samlp:Scoping><samlp:RequesterID>urn:{MARK}:requester</samlp:RequesterID></samlp:Scoping>",
    ]), max_size=3, unique=True))
    relay = draw(st.none() | value)
    return request_id, attrs, ("".join(pieces), relay)  # type: ignore[return-value]


# -- the instance ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def service(tmp_path_factory, sp_keys) -> Iterator[Any]:  # type: ignore[no-untyped-def]
    from conftest import FakeClock, make_harness

    directory = tmp_path_factory.mktemp("properties")
    with store_url("sqlite", directory) as url:
        for harness in make_harness(directory / "instance", url, FakeClock()):
            limits = harness.instance.settings.limits.model_copy(
                update={"api_per_minute": 10**6, "sso_per_minute_per_ip": 10**6})
            harness.instance.settings = harness.instance.settings.model_copy(update={"limits": limits})
            sp = OneLoginSP(keys=sp_keys)
            harness.trust(sp)
            harness.add_biller("city", sp.entity_id)
            harness.sp = sp
            launched = harness.launch("city", email="pat@example.com", account_number="101Invoice", role="owner")
            assert launched.status_code == 303
            yield harness


def _assert_sound(response: Any) -> None:
    assert response.status_code < 500, response.text[:500]
    for marker in LEAK_MARKERS:
        assert marker not in response.text, f"leaked {marker!r}"


def _outside_claims(xml: bytes) -> str:
    """The signed message with the partner's claims (NameID, attribute values) and InResponseTo taken out."""
    root = etree.fromstring(xml)
    for node in root.iterfind(".//saml:NameID", NS):
        node.text = ""
    for node in root.iterfind(".//saml:AttributeValue", NS):
        node.text = ""
    text = etree.tostring(root).decode()
    return re.sub(r'InResponseTo="[^"]*"', "", text)


# -- properties ------------------------------------------------------------------------------------------


@PROPERTY
@given(api_bodies())
def test_the_partner_api_never_fails_and_never_signs_what_it_was_not_given_as_a_claim(service, body):
    response = service.client.post("/api/v1/logins", content=json.dumps(body).encode(), headers={
        "Authorization": f"Bearer {service.api_keys['city']}", "Content-Type": "application/json"})
    _assert_sound(response)
    event(f"api {response.status_code}")
    if response.status_code != 201:
        assert response.headers["content-type"].startswith("application/json")
        assert set(response.json()) == {"error", "detail"}
        return
    cookies = dict(service.client.cookies)
    try:
        launched = service.client.get(response.json()["url"], follow_redirects=False)
    finally:
        service.client.cookies.clear()
        for name, value in cookies.items():
            service.client.cookies.set(name, value, domain="bridge.test")
    _assert_sound(launched)
    if launched.status_code == 303:
        # "flow": null means the biller's default, SP-initiated: a redirect to IC's link, nothing signed yet.
        assert launched.headers["location"].startswith(f"{IC_LINK_BASE}/"), launched.headers["location"]
        return
    form = parse_post_page(launched.text)
    assert MARK not in _outside_claims(form.xml)
    assert MARK.lower() not in _outside_claims(form.xml)


@PROPERTY
@given(authn_requests())
def test_an_authn_request_never_fails_and_none_of_its_fields_is_signed(service, request):
    request_id, attrs, (body, relay) = request
    xml = authn_request_xml(issuer=service.sp.entity_id, issue_instant=service.clock(), request_id=request_id,
                            extra_attrs=attrs, body=body)
    response = service.sso_redirect(redirect_url(SSO, xml, relay))
    _assert_sound(response)
    event("signed" if 'name="SAMLResponse"' in response.text else f"refused {response.status_code}")
    if 'name="SAMLResponse"' not in response.text:
        return
    signed = base64.b64decode(parse_post_page(response.text).saml_response)
    assert MARK not in _outside_claims(signed), _outside_claims(signed)[:2000]
