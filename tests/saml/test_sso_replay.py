"""An AuthnRequest is answered once: its replay mark is taken with the answer's audit row, in one commit."""

from __future__ import annotations

import threading
from urllib.parse import urlsplit

import pytest
from saml_peers import OneLoginSP, authn_request_xml, redirect_url

from bridge.errors import ReplayError
from bridge.identity import Identity
from bridge.store.sqlite import SqliteBackend

SSO = "https://bridge.test/saml/sso"
PAYER = {"email": "pat@example.com", "account_number": "101Invoice"}
IDENTITY = Identity(email=PAYER["email"], account_number=PAYER["account_number"], login_type="payer", biller="city")


@pytest.fixture
def sp(sqlite_bridge) -> OneLoginSP:
    sp = OneLoginSP()
    sqlite_bridge.trust(sp)
    sqlite_bridge.add_biller("city", sp.entity_id)
    sqlite_bridge.launch("city", **PAYER)
    return sp


def _query(sp: OneLoginSP, request_id: str) -> str:
    return urlsplit(redirect_url(SSO, authn_request_xml(issuer=sp.entity_id, request_id=request_id))).query


def test_a_login_takes_its_replay_mark_and_audit_row_in_one_commit(sqlite_bridge, sp):
    backend = sqlite_bridge.store.backend
    assert isinstance(backend, SqliteBackend)
    first = redirect_url(SSO, authn_request_xml(issuer=sp.entity_id, request_id="_first"))
    assert sqlite_bridge.sso_redirect(first).status_code == 200  # the rate limiter's first write of the window
    before = backend.commits
    response = sqlite_bridge.sso_redirect(redirect_url(SSO, authn_request_xml(issuer=sp.entity_id, request_id="_next")))
    assert response.status_code == 200 and "SAMLResponse" in response.text
    assert backend.commits - before == 1


def test_the_login_row_and_the_mark_are_both_there_after_a_login(sqlite_bridge, sp):
    url = redirect_url(SSO, authn_request_xml(issuer=sp.entity_id, request_id="_marked"))
    assert sqlite_bridge.sso_redirect(url).status_code == 200
    assert len(sqlite_bridge.audit("login.issued")) == 1
    assert not sqlite_bridge.store.use_once("authn-request", f"{sp.entity_id}|_marked", sqlite_bridge.clock())


def test_two_copies_of_one_request_answered_at_once_give_one_response(sqlite_bridge, sp):
    idp = sqlite_bridge.instance.idp
    copies = [idp.receive_redirect(_query(sp, "_twice")) for _ in range(2)]  # both verified before either answers
    start = threading.Barrier(2)
    outcomes: list[object] = []

    def answer(incoming) -> None:  # type: ignore[no-untyped-def]
        start.wait()
        try:
            outcomes.append(idp.respond(incoming, IDENTITY, session_id="s", authn_instant=sqlite_bridge.clock()))
        except ReplayError as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=answer, args=(incoming,)) for incoming in copies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(type(o).__name__ for o in outcomes) == ["Outgoing", "ReplayError"]
    assert len(sqlite_bridge.audit("login.issued")) == 1


def test_a_replay_is_refused_after_signing_and_the_signed_response_is_dropped(sqlite_bridge, sp):
    url = redirect_url(SSO, authn_request_xml(issuer=sp.entity_id, request_id="_again"))
    assert sqlite_bridge.sso_redirect(url).status_code == 200
    replayed = sqlite_bridge.sso_redirect(url)
    assert replayed.status_code == 400 and "Reference: replay" in replayed.text
    assert "SAMLResponse" not in replayed.text
    refusals = sqlite_bridge.audit("login.refused")
    assert [e.detail.split(":")[0] for e in refusals] == ["replay"]


def test_a_replayed_request_stays_refused_after_housekeeping_while_still_fresh(sqlite_bridge, sp, clock):
    url = redirect_url(SSO, authn_request_xml(issuer=sp.entity_id, request_id="_kept", issue_instant=clock()))
    assert sqlite_bridge.sso_redirect(url).status_code == 200
    clock.advance(60)  # inside request_max_age and the session's idle timeout
    sqlite_bridge.store.purge_expired(clock())
    replay = sqlite_bridge.sso_redirect(url)
    assert replay.status_code == 400
    assert "already" in replay.text and "SAMLResponse" not in replay.text


def test_a_parked_request_is_marked_when_parked(sqlite_bridge, sp):
    sqlite_bridge.client.cookies.clear()  # no session: the request waits for the partner login
    sqlite_bridge.add_biller("city", sp.entity_id, login_url="https://portal.test/login")
    url = redirect_url(SSO, authn_request_xml(issuer=sp.entity_id, request_id="_parked"))
    assert sqlite_bridge.sso_redirect(url).status_code == 303
    assert "Reference: replay" in sqlite_bridge.sso_redirect(url).text
