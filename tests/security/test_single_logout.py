"""Single Logout's own security rules (SAML Core 3.7.1, Profiles 4.4.4.1): a LogoutRequest is answered
once, only at this bridge's logout URL, and only while fresh. Each test fails if its one rule is removed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from saml_peers import OneLoginSP, redirect_url

SLO = "https://bridge.test/saml/slo"
PAYER = {"email": "pat@example.com", "account_number": "101Invoice"}


def logout_request_xml(*, issuer: str, request_id: str = "_logout1", issue_instant: datetime | None = None,
                       destination: str | None = SLO) -> bytes:
    instant = (issue_instant or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    attrs = f' Destination="{destination}"' if destination else ""
    return (
        f'<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" '
        f'xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{request_id}" Version="2.0" '
        f'IssueInstant="{instant}"{attrs}><saml:Issuer>{issuer}</saml:Issuer>'
        f'<saml:NameID Format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress">{PAYER["email"]}'
        f"</saml:NameID></samlp:LogoutRequest>"
    ).encode()


@pytest.fixture
def slo_sp(sqlite_bridge) -> OneLoginSP:
    sp = OneLoginSP(slo_url="https://sp-onelogin.test/slo")
    sqlite_bridge.trust(sp)
    sqlite_bridge.add_biller("city", sp.entity_id)
    return sp


def _send(bridge, xml: bytes):  # type: ignore[no-untyped-def]
    return bridge.sso_redirect(redirect_url(SLO, xml))


def test_a_fresh_logout_request_is_answered(sqlite_bridge, slo_sp, clock):
    answer = _send(sqlite_bridge, logout_request_xml(issuer=slo_sp.entity_id, issue_instant=clock()))
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("https://sp-onelogin.test/slo?SAMLResponse=")


def test_a_replayed_logout_request_is_refused(sqlite_bridge, slo_sp, clock):
    xml = logout_request_xml(issuer=slo_sp.entity_id, issue_instant=clock())
    assert _send(sqlite_bridge, xml).status_code == 303
    again = _send(sqlite_bridge, xml)
    assert again.status_code == 400
    assert "already used" in again.text


def test_a_replayed_logout_request_stays_refused_after_housekeeping_while_still_fresh(sqlite_bridge, slo_sp, clock):
    xml = logout_request_xml(issuer=slo_sp.entity_id, issue_instant=clock())
    assert _send(sqlite_bridge, xml).status_code == 303
    clock.advance(sqlite_bridge.settings.idp.request_max_age)  # still inside the acceptance window
    sqlite_bridge.store.purge_expired(clock())
    assert _send(sqlite_bridge, xml).status_code == 400


def test_a_logout_request_for_another_destination_is_refused(sqlite_bridge, slo_sp, clock):
    xml = logout_request_xml(issuer=slo_sp.entity_id, issue_instant=clock(),
                             destination="https://other-idp.test/saml/slo")
    answer = _send(sqlite_bridge, xml)
    assert answer.status_code == 400
    assert "Destination" in answer.text


def test_a_two_day_old_logout_request_is_refused(sqlite_bridge, slo_sp, clock):
    xml = logout_request_xml(issuer=slo_sp.entity_id, issue_instant=clock() - timedelta(days=2))
    answer = _send(sqlite_bridge, xml)
    assert answer.status_code == 400
    assert "IssueInstant" in answer.text


def test_a_logout_request_from_the_future_is_refused(sqlite_bridge, slo_sp, clock):
    skew = sqlite_bridge.settings.idp.clock_skew
    xml = logout_request_xml(issuer=slo_sp.entity_id, issue_instant=clock() + timedelta(seconds=skew + 60))
    answer = _send(sqlite_bridge, xml)
    assert answer.status_code == 400
    assert "IssueInstant" in answer.text


def test_a_logout_request_from_an_untrusted_issuer_is_refused(sqlite_bridge, slo_sp, clock):
    xml = logout_request_xml(issuer="https://stranger.test/sp", issue_instant=clock())
    answer = _send(sqlite_bridge, xml)
    assert answer.status_code == 400
    assert "location" not in answer.headers
