"""The store stops answering: nothing is issued, browsers get a 503 page, the API a 503 JSON, /readyz goes red."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from conftest import Harness
from saml_peers import OneLoginSP

from .conftest import PAYER, assert_fail_closed_page, restarted, run_sql, signed_in


def test_sso_with_a_session_while_the_store_is_down_answers_503_and_no_assertion(bridge: Harness, sp: OneLoginSP):
    signed_in(bridge)
    url, _request_id = sp.start_redirect()
    bridge.store.close()
    assert_fail_closed_page(bridge.sso_redirect(url))


def test_sso_post_binding_while_the_store_is_down_answers_503(bridge: Harness, sp: OneLoginSP):
    signed_in(bridge)
    fields, _request_id = sp.start_post()
    bridge.store.close()
    assert_fail_closed_page(bridge.sso_post(fields))


def test_partner_api_while_the_store_is_down_answers_503_json(bridge: Harness, sp: OneLoginSP):
    bridge.store.close()
    response = bridge.create_login("city", **PAYER)
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["error"] == "store_unavailable"
    assert "try again" in body["detail"]
    assert response.headers["retry-after"]


def test_error_detail_names_no_driver_internals(bridge: Harness, sp: OneLoginSP):
    bridge.store.close()
    body = bridge.create_login("city", **PAYER).json()
    assert "SQLite" not in body["detail"] and "PostgreSQL" not in body["detail"]
    assert "closed" not in body["detail"]


def test_launch_while_the_store_is_down_is_refused_without_a_session(bridge: Harness, sp: OneLoginSP):
    created = bridge.create_login("city", **PAYER)
    assert created.status_code == 201
    bridge.store.close()
    response = bridge.client.get(created.json()["url"], follow_redirects=False)
    assert_fail_closed_page(response)
    assert bridge.settings.session.cookie_name not in response.headers.get("set-cookie", "")


def test_launch_refused_by_an_outage_stays_usable_once_the_store_is_back(bridge: Harness, sp: OneLoginSP):
    # The single-use mark was never written, so the ticket was not consumed: a retry within its
    # lifetime on a node that reaches the store signs in once, and only once.
    created = bridge.create_login("city", **PAYER)
    launch_url = created.json()["url"]
    bridge.store.close()
    assert bridge.client.get(launch_url, follow_redirects=False).status_code == 503
    with restarted(bridge) as node:
        first = node.client.get(launch_url, follow_redirects=False)
        assert first.status_code == 303
        assert parse_qs(urlsplit(first.headers["location"]).query)["account"] == [PAYER["account_number"]]
        assert node.client.get(launch_url, follow_redirects=False).status_code == 400
        assert len(node.audit("ticket.consumed")) == 1


def test_idp_initiated_launch_while_the_store_is_down_sends_no_assertion(bridge: Harness, sp: OneLoginSP):
    created = bridge.create_login("city", **PAYER, flow="idp-initiated")
    bridge.store.close()
    assert_fail_closed_page(bridge.client.get(created.json()["url"], follow_redirects=False))


def test_readyz_goes_red_and_names_the_store(bridge: Harness):
    assert bridge.client.get("/readyz").status_code == 200
    bridge.store.close()
    response = bridge.client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["store"].startswith("unavailable")


def test_store_outage_is_counted_in_metrics(bridge: Harness, sp: OneLoginSP):
    bridge.store.close()
    bridge.create_login("city", **PAYER)
    metrics = bridge.client.get("/metrics").text
    assert "bridge_store_errors_total 1.0" in metrics


def test_readyz_goes_red_when_the_store_answers_reads_but_refuses_writes(bridge: Harness):
    # SELECT 1 still works here; the probe writes as a login does, so it sees what the next login would.
    if bridge.store.dialect.name == "sqlite":
        run_sql(bridge, "CREATE TRIGGER refuse_writes BEFORE INSERT ON rate_windows "
                        "BEGIN SELECT json('volume is read-only'); END")
    else:
        run_sql(bridge, "CREATE FUNCTION refuse_writes() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                        "RAISE EXCEPTION 'volume is read-only' USING ERRCODE = 'io_error'; END $$",
                "CREATE TRIGGER refuse_writes BEFORE INSERT ON rate_windows FOR EACH ROW "
                "EXECUTE FUNCTION refuse_writes()")
    response = bridge.client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["store"].startswith("unavailable")
