"""PostgreSQL drops the bridge's connections: requests fail closed until the pool has replaced them, then work.

The pool tests a connection before lending it only when it sat idle longer than
``check_after`` (a restart or failover): those are replaced without failing anyone. A
connection killed while in steady use fails the one request that next uses it: at most
one 503 per killed connection, never an assertion without its audit row.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from conftest import FakeClock, Harness, make_harness
from saml_peers import OneLoginSP
from store_backends import postgres_schema

from bridge.store.postgres import PostgresBackend

from .conftest import PAYER, assert_fail_closed_page, signed_in


@pytest.fixture
def pg_bridge(tmp_path: Path, clock: FakeClock) -> Iterator[Harness]:
    """A PostgreSQL instance whose connections carry an application_name of their own, so the test finds them."""
    with postgres_schema() as url:
        name = f"bridge-failclosed-{uuid.uuid4().hex[:12]}"
        harness_iter = make_harness(tmp_path / "instance", f"{url}&application_name={name}", clock)
        harness = next(harness_iter)
        harness.application_name = name  # type: ignore[attr-defined]
        yield harness
        next(harness_iter, None)


@pytest.fixture
def bridge(pg_bridge: Harness) -> Harness:  # the shared ``sp`` fixture builds on ``bridge``
    return pg_bridge


def terminate_connections(harness: Harness) -> int:
    with psycopg.connect(harness.settings.store.url.split("?")[0], autocommit=True) as admin:
        rows = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
            (harness.application_name,),  # type: ignore[attr-defined]
        ).fetchall()
    return len(rows)


def in_steady_use(harness: Harness) -> None:
    """As under load: every connection counts as just used, so none is tested before it is lent."""
    backend = harness.store.backend
    assert isinstance(backend, PostgresBackend)
    backend.check_after = math.inf


def test_after_a_restart_idle_connections_are_replaced_before_anyone_uses_them(pg_bridge: Harness, sp: OneLoginSP):
    signed_in(pg_bridge)
    backend = pg_bridge.store.backend
    assert isinstance(backend, PostgresBackend)
    backend.check_after = 0.0  # every connection has sat idle longer than this
    assert terminate_connections(pg_bridge) >= 1
    sp.idp_metadata = pg_bridge.metadata()
    url, request_id = sp.start_redirect()
    response = pg_bridge.sso_redirect(url)
    assert response.status_code == 200, response.text[:300]
    assert sp.consume(pg_bridge.posted(response), request_id).name_id == PAYER["email"]


def test_sso_on_killed_connections_fails_closed_until_the_pool_heals(pg_bridge: Harness, sp: OneLoginSP):
    signed_in(pg_bridge)
    in_steady_use(pg_bridge)
    killed = terminate_connections(pg_bridge)
    assert killed >= 1
    sp.idp_metadata = pg_bridge.metadata()
    url, _ = sp.start_redirect()
    assert_fail_closed_page(pg_bridge.sso_redirect(url))
    for _attempt in range(killed):
        url, request_id = sp.start_redirect()
        response = pg_bridge.sso_redirect(url)
        if response.status_code == 200:
            break
        assert_fail_closed_page(response)
    assert sp.consume(pg_bridge.posted(response), request_id).name_id == PAYER["email"]
    assert len(pg_bridge.audit("login.issued")) == 1


def test_launch_on_killed_connections_fails_closed_and_the_link_then_works_once(pg_bridge: Harness, sp: OneLoginSP):
    created = pg_bridge.create_login("city", **PAYER)
    launch_url = created.json()["url"]
    in_steady_use(pg_bridge)
    killed = terminate_connections(pg_bridge)
    statuses = [pg_bridge.client.get(launch_url, follow_redirects=False).status_code for _ in range(killed + 2)]
    assert statuses[0] == 503
    assert statuses.count(303) == 1
    assert statuses[statuses.index(303) + 1:] == [400] * (len(statuses) - statuses.index(303) - 1)
    assert set(statuses[:statuses.index(303)]) == {503}
