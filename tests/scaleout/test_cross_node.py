"""A login started on one node finishes on the other: tickets, single use and sessions are shared, not sticky."""

from __future__ import annotations

import threading
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from saml_peers import parse_post_page

from bridge.saml.xml import NS, parse_untrusted

from .conftest import Cluster

pytestmark = pytest.mark.slow


def payer(tag: str) -> dict[str, str]:
    return {"email": f"{tag}@example.com", "account_number": tag}


def test_ticket_minted_on_a_is_consumed_on_b_and_refused_again_on_a(cluster: Cluster):
    with cluster.browser() as browser:
        url = cluster.launch_url(browser, cluster.a, **payer("acct-ab"))
        first = browser.get(cluster.b.at(url))
        assert first.status_code == 303, first.text
        assert parse_qs(urlsplit(first.headers["location"]).query)["account"] == ["acct-ab"]
    with cluster.browser() as replayer:
        again = replayer.get(cluster.a.at(url))
        assert again.status_code == 400
        assert "already used" in again.text


def race(urls: list[str]) -> list[int]:
    """GET every URL at the same moment, one fresh browser each; the status codes."""
    start = threading.Barrier(len(urls))
    statuses: list[int] = []

    def use(url: str) -> None:
        with httpx.Client(timeout=10.0) as client:
            start.wait()
            statuses.append(client.get(url, follow_redirects=False).status_code)

    threads = [threading.Thread(target=use, args=(url,)) for url in urls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    return statuses


def test_concurrent_use_of_one_ticket_on_both_nodes_signs_in_once(cluster: Cluster):
    for attempt in range(5):
        with cluster.browser() as browser:
            url = cluster.launch_url(browser, cluster.a, **payer(f"acct-race-{attempt}"))
        statuses = race([node.at(url) for node in (cluster.a, cluster.b, cluster.a, cluster.b)])
        assert sorted(statuses) == [303, 400, 400, 400], statuses
    with cluster.store() as store:
        consumed = [e for e in store.audit_events() if e.event == "ticket.consumed" and
                    (e.account or "").startswith("acct-race-")]
    assert len(consumed) == 5


def test_login_started_on_a_finishes_on_b_from_the_session_cookie(cluster: Cluster):
    with cluster.browser() as browser:
        url = cluster.launch_url(browser, cluster.b, **payer("acct-cookie"))
        assert browser.get(cluster.a.at(url)).status_code == 303  # session cookie set by node A
        sso_url, request_id = cluster.sp.start_redirect()
        answered = browser.get(cluster.b.at(sso_url))  # the AuthnRequest lands on node B
        assert answered.status_code == 200, answered.text[:300]
    consumed = cluster.sp.consume(parse_post_page(answered.text), request_id)
    assert consumed.name_id == "acct-cookie@example.com"
    assert consumed.attributes["AccountNumber"] == ["acct-cookie"]


def test_an_authn_request_answered_on_one_node_is_a_replay_on_the_other(cluster: Cluster):
    with cluster.browser() as browser:
        url = cluster.launch_url(browser, cluster.a, **payer("acct-replay"))
        assert browser.get(cluster.a.at(url)).status_code == 303
        sso_url, _request_id = cluster.sp.start_redirect()
        assert browser.get(cluster.a.at(sso_url)).status_code == 200
        replayed = browser.get(cluster.b.at(sso_url))
    assert replayed.status_code == 400
    assert "SAMLResponse" not in replayed.text


def signing_certs(metadata: bytes) -> set[str]:
    root = parse_untrusted(metadata)
    return {"".join(str(c.text).split()) for c in root.iterfind(".//md:KeyDescriptor//ds:X509Certificate", NS)}


def test_both_nodes_publish_the_same_signing_keys(cluster: Cluster):
    a = httpx.get(f"{cluster.a.url}/saml/metadata", timeout=5.0)
    b = httpx.get(f"{cluster.b.url}/saml/metadata", timeout=5.0)
    assert a.status_code == b.status_code == 200
    assert signing_certs(a.content) == signing_certs(b.content) != set()
