"""@node-saml/node-saml (npm), configured as its README recommends, signs in through the bridge: SP- and
IdP-initiated, signed requests over Redirect and POST (deflated, node-saml's default), signed Responses,
encrypted assertions."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

import pytest
from conftest import reopened

from interop.node_saml import NodeSamlSP

pytestmark = pytest.mark.interop
PAYER = {"email": "pat.payer@example.com", "account_number": "101Invoice", "role": "owner"}
CLAIMS = {"Email": PAYER["email"], "LoginType": "1", "AccountNumber": "101Invoice"}


@contextmanager
def signed_in(harness, sp: NodeSamlSP, *, sp_options: str = "sign_response = true\n") -> Iterator:
    """The SP trusted (its own metadata in metadata/, ours handed to it), its [sp] options set, a biller
    bound to it, and a payer launched so the bridge holds a session."""
    try:
        harness.trust(sp)
        with reopened(harness, append=f'\n[sp."{sp.entity_id}"]\n{sp_options}') as node:
            node.add_biller("city", sp.entity_id)
            yield node
    finally:
        sp.close()


def _answer(node, url: str):  # type: ignore[no-untyped-def]
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == "https://bridge.test", url
    return node.sso_redirect(f"{parts.path}?{parts.query}")


def _claims(profile: dict) -> dict[str, str]:
    return {name: profile["attributes"][name] for name in CLAIMS}


def _logged_in(node, sp: NodeSamlSP, answer) -> dict:  # type: ignore[no-untyped-def]
    form = node.posted(answer)
    assert form.action == sp.acs_url
    verdict = sp.validate(form.fields)
    assert verdict["ok"], verdict
    profile = verdict["profile"]
    assert profile["nameID"] == PAYER["email"]
    assert _claims(profile) == CLAIMS
    return profile


def test_sp_initiated_over_redirect_with_a_signed_request(sqlite_bridge):
    sp = NodeSamlSP(binding="HTTP-Redirect")
    with signed_in(sqlite_bridge, sp) as node:
        assert node.launch("city", **PAYER).status_code == 303
        url = sp.authorize_url(relay_state="/portal/bills")
        assert "Signature=" in url and "SigAlg=http%3A%2F%2Fwww.w3.org%2F2001%2F04%2Fxmldsig-more%23rsa-sha256" in url
        answer = _answer(node, url)
        _logged_in(node, sp, answer)
        assert node.posted(answer).fields["RelayState"] == "/portal/bills"


def test_sp_initiated_over_post_with_a_signed_deflated_request(sqlite_bridge):
    sp = NodeSamlSP(binding="HTTP-POST")
    with signed_in(sqlite_bridge, sp) as node:
        assert node.launch("city", **PAYER).status_code == 303
        fields = sp.authorize_fields(relay_state="/portal/autopay")
        assert not base64.b64decode(fields["SAMLRequest"]).startswith(b"<")  # node-saml deflates by default
        answer = node.sso_post(fields)
        _logged_in(node, sp, answer)
        assert node.posted(answer).fields["RelayState"] == "/portal/autopay"


def test_an_encrypted_assertion_is_decrypted_by_node_saml(sqlite_bridge):
    sp = NodeSamlSP(decrypt=True)
    with signed_in(sqlite_bridge, sp, sp_options="sign_response = true\nencrypt_assertion = true\n") as node:
        assert node.launch("city", **PAYER).status_code == 303
        answer = _answer(node, sp.authorize_url())
        assert b"EncryptedAssertion" in node.posted(answer).xml
        _logged_in(node, sp, answer)


def test_idp_initiated_login_is_accepted(sqlite_bridge):
    sp = NodeSamlSP(validate_in_response_to="ifPresent")
    with signed_in(sqlite_bridge, sp) as node:
        answer = node.launch("city", **PAYER, flow="idp-initiated", deep_link="autopay", view_mode=1)
        profile = _logged_in(node, sp, answer)
        assert profile["issuer"] == node.settings.idp.resolved_entity_id
        assert node.posted(answer).fields["RelayState"] == "account=101Invoice&ViewMode=1&DeepLinkID=3"


def test_without_sign_response_node_saml_refuses_as_its_documentation_says(sqlite_bridge):
    # Its wantAuthnResponseSigned defaults to true: docs/service-providers.md says to set sign_response.
    sp = NodeSamlSP()
    with signed_in(sqlite_bridge, sp, sp_options="sign_response = false\n") as node:
        assert node.launch("city", **PAYER).status_code == 303
        verdict = sp.validate(node.posted(_answer(node, sp.authorize_url())).fields)
        assert not verdict["ok"] and "signature" in verdict["error"].lower()
