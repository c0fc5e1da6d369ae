"""XML signature wrapping on signed HTTP-POST AuthnRequests: the verified element must be the one processed.

The SP signs its requests (metadata AuthnRequestsSigned="true"); the attacker
holds one genuine signed request and rearranges it (McIntyre et al., "On
Breaking SAML"; OWASP SAML cheat sheet). A payer is signed in, so a request
that slipped through would issue an assertion: none may.
"""

from __future__ import annotations

import copy

import pytest

from bridge.errors import SignatureError
from bridge.saml.signing import verify_enveloped
from security.hostile import (
    DS,
    SAML,
    dump,
    evil_copy,
    hide,
    parse,
    post_fields,
    signature_of,
    signed_post_xml,
)
from security.hostile import assert_refused as refused

EVIL_ACS = "https://evil.test/acs"


def signing_sp_certs(harness, sp):  # type: ignore[no-untyped-def]
    return harness.instance.registry.get(sp.entity_id).signing_certs


def test_control_a_genuine_signed_request_reserialised_by_lxml_is_answered(sqlite_bridge, signing_sp):
    # Guards the harness: the mutations below re-serialise with lxml, which alone must not break a signature.
    xml = dump(parse(signed_post_xml(signing_sp)))
    form = sqlite_bridge.posted(sqlite_bridge.sso_post(post_fields(xml)))
    assert form.action == signing_sp.acs_url
    assert len(sqlite_bridge.audit("login.issued")) == 1


def test_signed_request_moved_under_extensions_of_an_unsigned_evil_root_is_refused(sqlite_bridge, signing_sp):
    original = parse(signed_post_xml(signing_sp))
    evil = evil_copy(original, new_id="_evil1")
    hide(evil, original)
    refused(sqlite_bridge, sqlite_bridge.sso_post(post_fields(dump(evil))), 400, "bad_signature")


def test_evil_root_carrying_the_original_signature_over_a_wrapped_original_is_refused(sqlite_bridge, signing_sp):
    original = parse(signed_post_xml(signing_sp))
    evil = evil_copy(original, new_id="_evil2")
    evil.find(f"{SAML}Issuer").addnext(copy.deepcopy(signature_of(original)))
    wrapped = copy.deepcopy(original)
    wrapped.remove(signature_of(wrapped))
    hide(evil, wrapped)
    refused(sqlite_bridge, sqlite_bridge.sso_post(post_fields(dump(evil))), 400, "bad_signature")


def test_duplicate_ids_evil_root_with_the_signed_elements_id_is_refused(sqlite_bridge, signing_sp):
    original = parse(signed_post_xml(signing_sp))
    evil = evil_copy(original, new_id=original.get("ID"), acs_url=EVIL_ACS)
    evil.find(f"{SAML}Issuer").addnext(copy.deepcopy(signature_of(original)))
    wrapped = copy.deepcopy(original)
    wrapped.remove(signature_of(wrapped))
    hide(evil, wrapped)
    response = sqlite_bridge.sso_post(post_fields(dump(evil)))
    # The schema's xs:ID uniqueness stops it first; the signature layer refuses it too (test below).
    refused(sqlite_bridge, response, 400, "invalid_saml_request")
    assert EVIL_ACS not in response.text
    with pytest.raises(SignatureError, match="not unique"):
        verify_enveloped(evil, signing_sp_certs(sqlite_bridge, signing_sp))


def test_signature_whose_reference_points_at_another_id_is_refused(sqlite_bridge, signing_sp):
    root = parse(signed_post_xml(signing_sp))
    reference = root.find(f"{DS}Signature/{DS}SignedInfo/{DS}Reference")
    reference.set("URI", "#_someone_else")
    refused(sqlite_bridge, sqlite_bridge.sso_post(post_fields(dump(root))), 400, "bad_signature")


def test_signature_on_a_child_element_not_the_root_is_refused(sqlite_bridge, signing_sp):
    original = parse(signed_post_xml(signing_sp))
    evil = evil_copy(original, new_id="_evil3")
    hide(evil, copy.deepcopy(signature_of(original)))
    refused(sqlite_bridge, sqlite_bridge.sso_post(post_fields(dump(evil))), 400, "bad_signature")


def test_two_signatures_on_the_root_are_refused(sqlite_bridge, signing_sp):
    root = parse(signed_post_xml(signing_sp))
    signature_of(root).addnext(copy.deepcopy(signature_of(root)))
    # The schema allows one ds:Signature; the signature layer would refuse two as well.
    refused(sqlite_bridge, sqlite_bridge.sso_post(post_fields(dump(root))), 400, "invalid_saml_request")
    with pytest.raises(SignatureError, match="exactly one signature"):
        verify_enveloped(root, signing_sp_certs(sqlite_bridge, signing_sp))


def test_second_signature_hidden_in_extensions_is_refused(sqlite_bridge, signing_sp):
    root = parse(signed_post_xml(signing_sp))
    hide(root, copy.deepcopy(signature_of(root)))
    refused(sqlite_bridge, sqlite_bridge.sso_post(post_fields(dump(root))), 400, "bad_signature")


def test_attribute_changed_after_signing_is_refused(sqlite_bridge, signing_sp):
    root = parse(signed_post_xml(signing_sp))
    root.set("ForceAuthn", "true")
    refused(sqlite_bridge, sqlite_bridge.sso_post(post_fields(dump(root))), 400, "bad_signature")


def test_issuer_changed_after_signing_is_refused(sqlite_bridge, signing_sp, plain_sp):
    # The signature is checked with the certs of the SP named in the (processed) root, never another's.
    root = parse(signed_post_xml(signing_sp))
    root.find(f"{SAML}Issuer").text = plain_sp.entity_id
    refused(sqlite_bridge, sqlite_bridge.sso_post(post_fields(dump(root))), 400, "bad_signature")


def test_signature_stripped_from_a_request_of_an_sp_that_signs_is_refused(sqlite_bridge, signing_sp):
    root = parse(signed_post_xml(signing_sp))
    root.remove(signature_of(root))
    refused(sqlite_bridge, sqlite_bridge.sso_post(post_fields(dump(root))), 400, "bad_signature")


def test_comment_injected_inside_the_signed_issuer_breaks_the_signature(sqlite_bridge, signing_sp):
    # exclusive c14n without comments would ignore a comment; a text change inside it must not survive.
    xml = signed_post_xml(signing_sp).replace(
        signing_sp.entity_id.encode(), b"https://sp-onelogin.test<!---->/metadata.evil", 1
    )
    refused(sqlite_bridge, sqlite_bridge.sso_post(post_fields(xml)), 400, "unknown_sp")
