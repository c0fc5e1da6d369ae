"""Launch tickets: single use, short-lived, tamper-proof, bound to their biller; partner-signed tickets too."""

from __future__ import annotations

import threading
from urllib.parse import parse_qs, urlsplit

import pytest
from security.hostile import assert_no_leak

from bridge.delegation.tickets import mint_partner_ticket, partner_secret

PAYER = {"email": "pat@example.com", "account_number": "101Invoice"}


@pytest.fixture
def city(bridge):
    from saml_peers import OneLoginSP

    sp = OneLoginSP()
    bridge.trust(sp)
    bridge.add_biller("city", sp.entity_id)
    return bridge


def _url(bridge, **body) -> str:
    response = bridge.create_login("city", **PAYER, **body)
    assert response.status_code == 201
    return response.json()["url"]


def _refused(bridge, response) -> None:
    """A refused ticket: the exact error page, no session, nothing issued, nothing leaked."""
    assert response.status_code == 400, response.text[:400]
    assert response.headers["content-type"].startswith("text/html")
    assert "Reference: invalid_ticket" in response.text
    assert "set-cookie" not in response.headers
    assert "SAMLResponse" not in response.text
    assert_no_leak(bridge, response.text)
    assert bridge.audit("login.issued") == []


def test_a_ticket_signs_in_once(city):
    url = _url(city)
    assert city.client.get(url, follow_redirects=False).status_code == 303
    second = city.client.get(url, follow_redirects=False)
    _refused(city, second)
    assert "already used" in second.text
    assert [e.outcome for e in city.audit("ticket.refused")] == ["refused"]


def test_an_expired_ticket_is_refused(city, clock):
    url = _url(city)
    clock.advance(61)
    response = city.client.get(url, follow_redirects=False)
    _refused(city, response)
    assert "expired" in response.text


def test_a_ticket_within_its_lifetime_is_accepted(city, clock):
    url = _url(city)
    clock.advance(59)
    assert city.client.get(url, follow_redirects=False).status_code == 303


def _flip(token: str, at: int) -> str:
    return token[:at] + ("A" if token[at] != "A" else "B") + token[at + 1:]


@pytest.mark.parametrize("where", ["payload", "signature"])
def test_a_tampered_ticket_is_refused(city, where):
    url = _url(city)
    ticket = parse_qs(urlsplit(url).query)["ticket"][0]
    forged = _flip(ticket, len(ticket) // 2 if where == "payload" else len(ticket) - 2)
    _refused(city, city.client.get(f"/launch?ticket={forged}", follow_redirects=False))


def test_a_ticket_signed_with_an_unknown_secret_is_refused(city):
    from bridge.delegation.tickets import LaunchRequest, mint

    launch = LaunchRequest(biller="city", email="evil@example.com", account_number="1", login_type="1",
                           role=None, deep_link=1, view_mode=1, flow="sp-initiated")
    token = mint(["not-the-bridge-secret"], launch, ticket_id="_x", now=city.clock())
    _refused(city, city.client.get("/launch", params={"ticket": token}, follow_redirects=False))


def test_refused_tickets_are_audited(city):
    city.client.get("/launch?ticket=garbage", follow_redirects=False)
    assert [e.outcome for e in city.audit("ticket.refused")] == ["refused"]


def test_concurrent_double_use_of_one_ticket_signs_in_exactly_once(city):
    url = _url(city)
    statuses: list[int] = []
    barrier = threading.Barrier(8)

    def use() -> None:
        barrier.wait()
        statuses.append(city.client.get(url, follow_redirects=False).status_code)

    threads = [threading.Thread(target=use) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [303] + [400] * 7
    assert len(city.audit("ticket.consumed")) == 1


def test_rotated_ticket_secrets_still_accept_tickets_signed_with_the_old_one(city):
    url = _url(city)
    settings = city.instance.settings
    rotated = settings.tickets.model_copy(update={"secrets": [*settings.tickets.secrets, "brand-new-secret"]})
    object.__setattr__(settings, "tickets", rotated)
    assert city.client.get(url, follow_redirects=False).status_code == 303


def _partner_ticket(bridge, biller: str, jti: str = "_p1", **launch) -> str:
    secret = partner_secret(bridge.settings.tickets.secrets[-1], biller)
    return mint_partner_ticket(secret, {"biller": biller, **PAYER, **launch}, ticket_id=jti, now=bridge.clock())


def test_a_partner_signed_ticket_signs_in_once(city):
    token = _partner_ticket(city, "city", deep_link="paperless")
    first = city.client.get("/launch", params={"partner_ticket": token}, follow_redirects=False)
    assert first.status_code == 303
    assert "DeepLinkID=2" in first.headers["location"]
    _refused(city, city.client.get("/launch", params={"partner_ticket": token}, follow_redirects=False))


def test_an_expired_partner_signed_ticket_is_refused(city, clock):
    token = _partner_ticket(city, "city", jti="_p_old")
    clock.advance(city.settings.tickets.lifetime + 1)
    response = city.client.get("/launch", params={"partner_ticket": token}, follow_redirects=False)
    _refused(city, response)
    assert "expired" in response.text


def test_a_used_ticket_stays_refused_after_housekeeping_while_its_signature_is_still_valid(city, clock):
    url = _url(city)
    assert city.client.get(url, follow_redirects=False).status_code == 303
    clock.advance(city.settings.tickets.lifetime - 1)
    city.store.purge_expired(clock())
    _refused(city, city.client.get(url, follow_redirects=False))


def test_a_used_partner_ticket_stays_refused_after_housekeeping_while_its_signature_is_still_valid(city, clock):
    token = _partner_ticket(city, "city", jti="_p_hk")
    assert city.client.get("/launch", params={"partner_ticket": token}, follow_redirects=False).status_code == 303
    clock.advance(city.settings.tickets.lifetime - 1)
    city.store.purge_expired(clock())
    _refused(city, city.client.get("/launch", params={"partner_ticket": token}, follow_redirects=False))


@pytest.mark.parametrize(("signer", "named"), [("town", "city"), ("city", "town")])
def test_a_partner_ticket_signed_for_another_biller_is_refused(city, signer, named):
    from saml_peers import OneLoginSP

    town = OneLoginSP("https://sp-b.test/metadata", "https://sp-b.test/acs")
    city.trust(town)
    city.add_biller("town", town.entity_id)  # both billers real: only the signing key is wrong
    secret = partner_secret(city.settings.tickets.secrets[-1], signer)
    token = mint_partner_ticket(secret, {"biller": named, **PAYER}, ticket_id="_p2", now=city.clock())
    _refused(city, city.client.get("/launch", params={"partner_ticket": token}, follow_redirects=False))


def test_a_partner_ticket_with_an_invalid_field_is_refused_with_the_field_named(city):
    token = _partner_ticket(city, "city", jti="_p3", view_mode=7)
    response = city.client.get("/launch", params={"partner_ticket": token}, follow_redirects=False)
    assert response.status_code == 400
    assert "view_mode" in response.text


def test_a_launch_commits_its_ticket_mark_and_audit_row_in_one_transaction(sqlite_bridge):
    from saml_peers import OneLoginSP

    from bridge.store.sqlite import SqliteBackend

    sp = OneLoginSP()
    sqlite_bridge.trust(sp)
    sqlite_bridge.add_biller("city", sp.entity_id)
    url = _url(sqlite_bridge)
    backend = sqlite_bridge.store.backend
    assert isinstance(backend, SqliteBackend)
    before = backend.commits
    assert sqlite_bridge.client.get(url, follow_redirects=False).status_code == 303
    assert backend.commits - before == 1
    assert [e.event for e in sqlite_bridge.audit("ticket.consumed")] == ["ticket.consumed"]


def test_a_replayed_ticket_leaves_no_second_consumed_row(city):
    url = _url(city)
    city.client.get(url, follow_redirects=False)
    _refused(city, city.client.get(url, follow_redirects=False))
    assert len(city.audit("ticket.consumed")) == 1
    assert len(city.audit("ticket.refused")) == 1
