"""The assertion is built and signed, then its audit row cannot be written: the assertion never leaves.

bridge.idp signs first and records ``login.issued`` second; the database (a trigger on
audit_events) refuses that one row, everything else keeps working.
"""

from __future__ import annotations

from conftest import Harness
from saml_peers import OneLoginSP

from .conftest import PAYER, assert_fail_closed_page, refuse_audit_rows, run_sql, signed_in


def test_sp_initiated_login_whose_audit_row_fails_sends_no_assertion(bridge: Harness, sp: OneLoginSP):
    signed_in(bridge)
    refuse_audit_rows(bridge, "login.issued")
    url, _request_id = sp.start_redirect()
    assert_fail_closed_page(bridge.sso_redirect(url))
    assert bridge.audit("login.issued") == []


def test_idp_initiated_launch_whose_audit_row_fails_sends_no_assertion(bridge: Harness, sp: OneLoginSP):
    refuse_audit_rows(bridge, "login.issued")
    created = bridge.create_login("city", **PAYER, flow="idp-initiated")
    response = bridge.client.get(created.json()["url"], follow_redirects=False)
    assert_fail_closed_page(response)
    assert bridge.settings.session.cookie_name not in response.headers.get("set-cookie", "")


def test_launch_whose_consumed_row_fails_starts_no_session(bridge: Harness, sp: OneLoginSP):
    refuse_audit_rows(bridge, "ticket.consumed")
    created = bridge.create_login("city", **PAYER)
    response = bridge.client.get(created.json()["url"], follow_redirects=False)
    assert_fail_closed_page(response)
    assert bridge.settings.session.cookie_name not in response.headers.get("set-cookie", "")


def test_partner_api_whose_audit_row_fails_returns_no_launch_url(bridge: Harness, sp: OneLoginSP):
    refuse_audit_rows(bridge, "launch.created")
    response = bridge.create_login("city", **PAYER)
    assert response.status_code == 503
    assert "url" not in response.json()


def test_the_same_login_succeeds_once_the_audit_trail_takes_rows_again(bridge: Harness, sp: OneLoginSP):
    signed_in(bridge)
    refuse_audit_rows(bridge, "login.issued")
    url, _ = sp.start_redirect()
    assert bridge.sso_redirect(url).status_code == 503
    run_sql(bridge, "DROP TRIGGER refuse_audit" + ("" if bridge.store.dialect.name == "sqlite" else " ON audit_events"))
    url, request_id = sp.start_redirect()
    sp.idp_metadata = bridge.metadata()
    consumed = sp.consume(bridge.posted(bridge.sso_redirect(url)), request_id)
    assert consumed.name_id == PAYER["email"]
    assert len(bridge.audit("login.issued")) == 1


def test_a_request_whose_audit_row_failed_is_not_spent(bridge: Harness, sp: OneLoginSP):
    # The replay mark shares the audit row's transaction: neither was written, so the SP's retry is answered.
    signed_in(bridge)
    refuse_audit_rows(bridge, "login.issued")
    url, request_id = sp.start_redirect()
    assert_fail_closed_page(bridge.sso_redirect(url))
    run_sql(bridge, "DROP TRIGGER refuse_audit" + ("" if bridge.store.dialect.name == "sqlite" else " ON audit_events"))
    sp.idp_metadata = bridge.metadata()
    assert sp.consume(bridge.posted(bridge.sso_redirect(url)), request_id).name_id == PAYER["email"]


def test_a_ticket_whose_consumed_row_failed_is_not_spent(bridge: Harness, sp: OneLoginSP):
    refuse_audit_rows(bridge, "ticket.consumed")
    url = bridge.create_login("city", **PAYER).json()["url"]
    assert_fail_closed_page(bridge.client.get(url, follow_redirects=False))
    run_sql(bridge, "DROP TRIGGER refuse_audit" + ("" if bridge.store.dialect.name == "sqlite" else " ON audit_events"))
    assert bridge.client.get(url, follow_redirects=False).status_code == 303
