"""A whole rotation as SPs see it: python3-saml (strict) and xmlsec1 against the bridge's responses and metadata."""

from __future__ import annotations

import pytest
from saml_peers import OneLoginSP, xmlsec1_verify

from .conftest import metadata_certs, metadata_kids

PAYER = {"email": "pat.payer@example.com", "account_number": "101Invoice", "role": "owner"}
# python3-saml checks message times against the real clock (300 s drift allowed), so journeys with a real SP
# use a one-minute keys.min_overlap instead of advancing the bridge's clock by a day.
SHORT_OVERLAP = 60


def _short(settings):
    return settings.model_copy(update={"keys": settings.keys.model_copy(update={"min_overlap": SHORT_OVERLAP})})


@pytest.fixture
def sp(sqlite_admin):
    sp = OneLoginSP()
    sqlite_admin.bridge.trust(sp)
    sqlite_admin.bridge.add_biller("city", sp.entity_id)
    assert sqlite_admin.bridge.launch("city", **PAYER).status_code == 303
    return sp


def _sign_in(bridge, sp):
    url, request_id = sp.start_redirect()
    form = bridge.posted(bridge.sso_redirect(url))
    return form, request_id


def _signed_by(form, admin, kid):
    return xmlsec1_verify(form.xml, admin.certificate(kid).pem).returncode == 0


def _activate_after_short_overlap(admin, kid):
    admin.bridge.clock.advance(SHORT_OVERLAP)
    return admin.activate(kid, settings=_short(admin.settings))


def _retire_after_short_overlap(admin, kid):
    admin.bridge.clock.advance(SHORT_OVERLAP)
    return admin.retire(kid, settings=_short(admin.settings))


def test_after_stage_metadata_lists_both_certs_and_responses_still_verify_with_the_old_one(sqlite_admin, sp):
    old = sqlite_admin.active_kid
    new = sqlite_admin.staged()
    assert metadata_kids(sqlite_admin.bridge.metadata()) == [old, new]
    form, request_id = _sign_in(sqlite_admin.bridge, sp)  # sp still has only the old certificate
    assert sp.consume(form, request_id).name_id == PAYER["email"]
    assert _signed_by(form, sqlite_admin, old)
    assert not _signed_by(form, sqlite_admin, new)


def test_after_activate_responses_verify_with_the_new_cert(sqlite_admin, sp):
    old = sqlite_admin.active_kid
    new = sqlite_admin.staged()
    _activate_after_short_overlap(sqlite_admin, new)
    form, _ = _sign_in(sqlite_admin.bridge, sp)
    assert _signed_by(form, sqlite_admin, new)
    assert not _signed_by(form, sqlite_admin, old)


def test_after_retire_only_the_new_cert_is_published(sqlite_admin, sp):
    old = sqlite_admin.active_kid
    new = sqlite_admin.staged()
    _activate_after_short_overlap(sqlite_admin, new)
    _retire_after_short_overlap(sqlite_admin, old)
    metadata = sqlite_admin.bridge.metadata()
    assert metadata_kids(metadata) == [new]
    assert metadata_certs(metadata) == [sqlite_admin.certificate(new).der_base64]


def test_a_strict_sp_that_imported_both_certs_keeps_working_through_the_whole_rotation(sqlite_admin, sp):
    bridge = sqlite_admin.bridge
    old = sqlite_admin.active_kid

    def signs_in():
        form, request_id = _sign_in(bridge, sp)
        assert sp.consume(form, request_id).name_id == PAYER["email"]
        return form

    signs_in()
    new = sqlite_admin.staged()
    sp.idp_metadata = bridge.metadata()  # the SP refreshes while the new key is pending (IC: admin re-saves the URL)
    signing = sp._settings()["idp"]["x509certMulti"]["signing"]
    assert len(signing) == 2
    assert _signed_by(signs_in(), sqlite_admin, old)
    _activate_after_short_overlap(sqlite_admin, new)
    assert _signed_by(signs_in(), sqlite_admin, new)
    _retire_after_short_overlap(sqlite_admin, old)
    signs_in()
    sqlite_admin.purge(old)
    assert _signed_by(signs_in(), sqlite_admin, new)


def test_an_sp_that_never_fetched_the_pending_cert_refuses_the_new_key(sqlite_admin, sp):
    """Why the rollover guard exists: activation too early locks that SP's payers out."""
    new = sqlite_admin.staged()
    _activate_after_short_overlap(sqlite_admin, new)
    form, request_id = _sign_in(sqlite_admin.bridge, sp)
    with pytest.raises(AssertionError, match="python3-saml refused the Response"):
        sp.consume(form, request_id)
