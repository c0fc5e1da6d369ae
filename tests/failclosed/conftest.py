"""Breaking the real store under a running bridge, and looking at what leaves.

The faults are real ones, made from outside the bridge's code: the instance's store is
closed (every call then fails as a lost database does), a trigger makes the database
itself refuse audit rows, PostgreSQL kills the instance's connections.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest
from conftest import BASE_URL, Harness
from saml_peers import OneLoginSP
from starlette.testclient import TestClient

from bridge.config import load_settings
from bridge.instance import open_instance
from bridge.store.sqlite import sqlite_path
from bridge.web.app import create_app

PAYER = {"email": "pat.payer@example.com", "account_number": "101Invoice"}


@pytest.fixture
def sp(bridge: Harness) -> OneLoginSP:
    """A trusted SP with a biller ``city`` bound to it."""
    sp = OneLoginSP()
    bridge.trust(sp)
    bridge.add_biller("city", sp.entity_id)
    return sp


def signed_in(bridge: Harness) -> None:
    """Launch a payer (SP-initiated): the test client now holds the bridge session cookie."""
    launched = bridge.launch("city", **PAYER)
    assert launched.status_code == 303, launched.text
    assert bridge.client.cookies.get(bridge.settings.session.cookie_name)


def assert_fail_closed_page(response) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == 503, response.text[:300]
    assert response.headers["content-type"].startswith("text/html")
    assert "Temporarily unavailable" in response.text
    assert "store_unavailable" in response.text
    assert "SAMLResponse" not in response.text
    assert "Retry-After" in response.headers


def run_sql(bridge: Harness, *statements: str) -> None:
    """Statements run on the instance's database from a connection of the test's own."""
    url = bridge.settings.store.url
    if url.startswith("sqlite:///"):
        conn = sqlite3.connect(sqlite_path(url, base_dir=bridge.settings.base_dir), isolation_level=None)
        try:
            for statement in statements:
                conn.execute(statement)
        finally:
            conn.close()
    else:
        with psycopg.connect(url, autocommit=True) as pg:
            for statement in statements:
                pg.execute(statement)


def refuse_audit_rows(bridge: Harness, event: str) -> None:
    """The database refuses (with an error, not a constraint) every audit row of ``event`` from now on."""
    if bridge.settings.store.url.startswith("sqlite:///"):
        # RAISE() would be a constraint failure (a conflict); a runtime error ("malformed JSON")
        # is an OperationalError, as a full disk or a broken file gives.
        run_sql(bridge, "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_events "
                        f"WHEN NEW.event = '{event}' BEGIN SELECT json('audit volume failed'); END")
    else:
        run_sql(
            bridge,
            "CREATE FUNCTION refuse_audit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "RAISE EXCEPTION 'audit volume failed' USING ERRCODE = 'io_error'; END $$",
            "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_events FOR EACH ROW "
            f"WHEN (NEW.event = '{event}') EXECUTE FUNCTION refuse_audit()",
        )


@contextmanager
def restarted(bridge: Harness) -> Iterator[Harness]:
    """Another process of the same instance, on the same store (a node started after the outage)."""
    settings = load_settings(bridge.init.config)
    instance = open_instance(settings, clock=bridge.clock)
    try:
        with TestClient(create_app(instance, background=False), base_url=BASE_URL,
                        raise_server_exceptions=False) as client:
            yield Harness(directory=bridge.directory, instance=instance, client=client, clock=bridge.clock,
                          init=bridge.init, api_keys=dict(bridge.api_keys))
    finally:
        instance.close()
