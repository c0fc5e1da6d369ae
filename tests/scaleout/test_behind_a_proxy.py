"""Two nodes behind a reverse proxy on loopback: the client a trusted proxy names is the one the
rate limits, the audit trail and the metadata-fetch log see; nobody else can name one."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from .conftest import Cluster, running_cluster
from .loopback_proxy import client_from, loopback_proxy

PROXY, PAYER, OTHER_PAYER, DIRECT = "127.0.0.2", "127.0.0.5", "127.0.0.6", "127.0.0.3"
SSO_LIMIT = 4
SETTINGS = f"""[limits]
api_per_minute = 1000000
sso_per_minute_per_ip = {SSO_LIMIT}
[server]
forwarded_allow_ips = ["{PROXY}/32"]
"""
GARBAGE_SSO = "/saml/sso?SAMLRequest=not-a-saml-message"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def proxied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Cluster, str]]:
    with running_cluster(tmp_path_factory.mktemp("proxied") / "instance", settings=SETTINGS) as cluster, \
            loopback_proxy([cluster.a.url, cluster.b.url], source=PROXY) as proxy:
        yield cluster, proxy


def _refused_ips(cluster: Cluster) -> list[str | None]:
    with cluster.store() as store:
        return [e.client_ip for e in store.audit_events(event="login.refused")]


def test_the_audit_trail_has_the_client_the_proxy_names_on_both_nodes(proxied) -> None:  # type: ignore[no-untyped-def]
    cluster, proxy = proxied
    before = len(_refused_ips(cluster))
    with client_from(OTHER_PAYER) as browser:
        for _ in range(2):  # round robin: one request to each node
            assert browser.get(proxy + GARBAGE_SSO).status_code == 400
    assert _refused_ips(cluster)[before:] == [OTHER_PAYER, OTHER_PAYER]


def test_a_forwarded_for_sent_by_the_client_through_the_proxy_is_not_believed(proxied) -> None:  # type: ignore[no-untyped-def]
    cluster, proxy = proxied
    with client_from(OTHER_PAYER) as browser:
        assert browser.get(proxy + "/saml/metadata", headers={"X-Forwarded-For": "203.0.113.9",
                                                               "User-Agent": "spoofer/1"}).status_code == 200
    with cluster.store() as store:
        assert [f.client_ip for f in store.metadata_fetches() if f.user_agent == "spoofer/1"] == [OTHER_PAYER]


def test_a_peer_that_is_not_a_trusted_proxy_cannot_name_another_client(proxied) -> None:  # type: ignore[no-untyped-def]
    cluster, _proxy = proxied
    before = len(_refused_ips(cluster))
    with client_from(DIRECT) as direct:
        answer = direct.get(cluster.a.url + GARBAGE_SSO, headers={"X-Forwarded-For": "203.0.113.9"})
    assert answer.status_code == 400
    assert _refused_ips(cluster)[before:] == [DIRECT]


def test_the_per_address_limit_counts_each_payer_across_both_nodes(proxied) -> None:  # type: ignore[no-untyped-def]
    _cluster, proxy = proxied
    if time.time() % 60 > 45:  # the limit's window is the clock minute: start well inside one
        time.sleep(61 - time.time() % 60)
    statuses = []
    with client_from(PAYER) as payer:
        for _ in range(SSO_LIMIT + 4):
            statuses.append(payer.get(proxy + GARBAGE_SSO).status_code)
            if statuses[-1] == 429:
                break
    assert statuses[-1] == 429 and len(statuses) <= SSO_LIMIT + 2, statuses  # both nodes count one budget
    with client_from(OTHER_PAYER) as other:
        # Another payer behind the same proxy has a budget of its own (before, everyone shared the proxy's).
        assert other.get(proxy + GARBAGE_SSO).status_code == 400
