"""Cloud SSO Connect over REST end to end: the partner call, the launch, the decision tree against the
simulator's IC over real HTTP (uvicorn), IC's Cloud SSO page, the audit row and the metrics."""

from __future__ import annotations

import base64
import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bridge.simulator.cpv2 import simulator_api_key

from .live_ic import LiveBridge, serve_live

ACCOUNT = "101Invoice"
EMAIL = "pat.payer@example.com"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveBridge]:
    yield from serve_live(tmp_path_factory.mktemp("rest-sso"))


def _landed(opened: tuple[httpx.Response, httpx.Response | None] | httpx.Response | None) -> str:
    if isinstance(opened, tuple):
        first, page = opened
        assert page is not None, f"no auto-POST to IC: {first.status_code} {first.text[:600]}"
    else:
        page = opened
    assert page is not None and page.status_code == 200, page.text if page is not None else "no IC page"
    assert 'id="outcome" data-ok="true"' in page.text, page.text
    return page.text


def _samples(live: LiveBridge, family: str, **labels: str) -> dict[str, float]:
    """The samples of one metric family whose labels include ``labels`` (name → value; buckets left out)."""
    found: dict[str, float] = {}
    for metric in text_string_to_metric_families(live.metrics()):
        if metric.name != family.removesuffix("_total"):
            continue
        for sample in metric.samples:
            if "le" not in sample.labels and labels.items() <= sample.labels.items():
                found[sample.name] = found.get(sample.name, 0) + sample.value
    return found


def _ic_calls(live: LiveBridge, operation: str, outcome: str) -> float:
    return _samples(live, "bridge_ic_calls_total", service=f"remote_auth.{operation}",
                    outcome=outcome).get("bridge_ic_calls_total", 0)


def _detail(live: LiveBridge, biller: str) -> str:
    rows = live.audit(biller, "rest_sso")
    assert rows, "no rest_sso audit row"
    return str(rows[-1].detail)


def test_a_new_account_is_created_registered_and_lands_on_ics_page_for_its_redirect_id(live: LiveBridge) -> None:
    biller, key = live.add_rest_biller(rest_login_type_id=5)
    text = _landed(live.open(live.launch_url(biller.name, key, deep_link="autopay")))
    assert f'id="account">{ACCOUNT}<' in text and "Customer Portal AutoPay Settings" in text
    assert 'id="login-type">5<' in text and "IC's standard behaviour applies" in text
    assert "inside the portal&#39;s iFrame" in text and biller.css_url in text
    assert re.search(r'href="http://127.0.0.1:9/portal/home" target="_top">Sign out and Return to City Water<', text)
    assert live.ic.customer_records(biller.biller_guid, ACCOUNT) == 1
    row = live.audit(biller.name, "rest_sso")[-1]
    assert row.outcome == "ok" and row.account == ACCOUNT and row.email == EMAIL
    assert row.detail == ("branch=created; retrieve_users=ok retrieve_users=ok create_customer=ok "
                          "register_accounts=ok authenticate=ok")


def test_an_existing_unregistered_account_is_registered_then_authenticated(live: LiveBridge) -> None:
    biller, key = live.add_rest_biller()
    live.ic.create_customer(biller.biller_guid, ACCOUNT, "someone.else@example.com", now=datetime.now(UTC))
    _landed(live.open(live.launch_url(biller.name, key)))
    assert _detail(live, biller.name).startswith("branch=registered;")
    assert live.ic.customer_records(biller.biller_guid, ACCOUNT) == 1


def test_a_registered_payer_is_only_looked_up_and_authenticated(live: LiveBridge) -> None:
    biller, key = live.add_rest_biller()
    _landed(live.open(live.launch_url(biller.name, key)))
    _landed(live.open(live.launch_url(biller.name, key)))
    assert _detail(live, biller.name) == "branch=existing; retrieve_users=ok authenticate=ok"


def test_two_concurrent_first_launches_for_one_account_create_one_customer_record(live: LiveBridge) -> None:
    biller, key = live.add_rest_biller()
    urls = [live.launch_url(biller.name, key) for _ in range(3)]
    pages: list[httpx.Response | None] = []
    start = threading.Barrier(len(urls))

    def launch(url: str) -> None:
        start.wait()
        pages.append(live.open(url)[1])

    threads = [threading.Thread(target=launch, args=(url,)) for url in urls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for page in pages:
        _landed(page)
    assert live.ic.customer_records(biller.biller_guid, ACCOUNT) == 1
    branches = sorted(str(row.detail).split(";")[0] for row in live.audit(biller.name, "rest_sso"))
    assert branches == ["branch=created", "branch=existing", "branch=existing"]


def test_a_failure_between_create_and_register_resumes_at_register_on_the_next_launch(live: LiveBridge) -> None:
    biller, key = live.add_rest_biller()
    live.fault("register_accounts", "server_error")
    first, page = live.open(live.launch_url(biller.name, key))
    assert page is None and first.status_code == 504
    assert "Invoice Cloud is not answering right now" in first.text
    assert 'href="http://127.0.0.1:9/portal/home" target="_top">Return to City Water<' in first.text
    row = live.audit(biller.name, "rest_sso")[-1]
    assert row.outcome == "error"
    assert "create_customer=ok register_accounts=server_error" in str(row.detail)
    assert "failed at register_accounts: ic_unavailable" in str(row.detail)
    _landed(live.open(live.launch_url(biller.name, key)))
    assert _detail(live, biller.name).startswith("branch=registered; retrieve_users=ok retrieve_users=ok "
                                                 "register_accounts=ok")
    assert live.ic.customer_records(biller.biller_guid, ACCOUNT) == 1


@pytest.mark.parametrize(("operation", "kind", "outcome", "status", "code", "words"), [
    ("authenticate", "timeout", "timeout", 504, "ic_unavailable", "not answering right now"),
    ("create_customer", "unauthorized", "refused", 502, "ic_credentials_refused", "did not accept this utility"),
    ("register_accounts", "ic_error", "rejected", 502, "ic_rejected", "Simulated IC error in register_accounts"),
    ("authenticate", "malformed", "bad_answer", 502, "ic_unexpected_answer", "an answer we could not read"),
])
def test_an_ic_fault_shows_the_payer_a_page_and_records_the_failed_step(
    live: LiveBridge, operation: str, kind: str, outcome: str, status: int, code: str, words: str
) -> None:
    biller, key = live.add_rest_biller(portal_origins=("https://portal.test",))
    counted = _ic_calls(live, operation, outcome)
    live.fault(operation, kind)
    first, page = live.open(live.launch_url(biller.name, key))
    assert page is None and first.status_code == status
    assert words in first.text and f"Reference: {code}" in first.text
    assert "frame-ancestors *" in first.headers["content-security-policy"]  # no action on it: readable in any frame
    assert f"failed at {operation}: {code}" in _detail(live, biller.name)
    assert _ic_calls(live, operation, outcome) == counted + 1


def test_a_lookup_that_times_out_once_is_retried_and_the_launch_succeeds(live: LiveBridge) -> None:
    biller, key = live.add_rest_biller()
    live.fault("retrieve_users", "timeout")
    _landed(live.open(live.launch_url(biller.name, key)))
    assert "retrieve_users=timeout retrieve_users=ok" in _detail(live, biller.name)


def test_metrics_count_ic_calls_by_operation_and_outcome_with_a_latency_histogram(live: LiveBridge) -> None:
    biller, key = live.add_rest_biller()
    _landed(live.open(live.launch_url(biller.name, key)))
    for operation in ("retrieve_users", "create_customer", "register_accounts", "authenticate"):
        assert _ic_calls(live, operation, "ok") >= 1
        latency = _samples(live, "bridge_ic_call_seconds", service=f"remote_auth.{operation}")
        assert latency["bridge_ic_call_seconds_count"] >= 1 and latency["bridge_ic_call_seconds_sum"] > 0


def test_the_token_never_reaches_the_log_or_the_audit_trail(live: LiveBridge) -> None:
    biller, key = live.add_rest_biller(name="token-watch")
    ic_key = simulator_api_key(live.settings, biller.biller_guid)
    first, page = live.open(live.launch_url(biller.name, key))
    _landed(page)
    found = re.search(r'name="RemoteAuthenticationToken" value="([^"]+)"', first.text)
    assert found is not None and len(found.group(1)) > 20
    secrets = (found.group(1), ic_key, base64.b64encode(ic_key.encode()).decode())  # the key as Basic auth sends it
    log = live.log_path.read_text()
    assert "rest_sso" in log and "remoteauthentication/authenticate" in log, (
        "the server's DEBUG log should hold the launch and its IC calls, or this test proves nothing")
    assert not [secret for secret in secrets if secret in log]
    assert not [row for row in live.audit(biller.name) if any(secret in str(row) for secret in secrets)]
    assert first.headers["cache-control"] == "no-store"


def test_the_token_is_single_use_at_ics_page(live: LiveBridge) -> None:
    biller, key = live.add_rest_biller()
    first, page = live.open(live.launch_url(biller.name, key))
    _landed(page)
    form = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', first.text))
    action = re.search(r'action="([^"]+)"', first.text)
    assert action is not None
    again = httpx.post(action.group(1), data=form, timeout=10)
    assert again.status_code == 400 and "already used" in again.text


def test_a_biller_may_switch_token_delivery_to_a_get_link(live: LiveBridge) -> None:
    biller, key = live.add_rest_biller(rest_delivery="get")
    answer = httpx.get(live.launch_url(biller.name, key, deep_link="bills"), timeout=30)
    assert answer.status_code == 303
    location = urlsplit(answer.headers["location"])
    query = parse_qs(location.query)
    assert location.path.endswith("/simulator/cloudsso/login") and query["RedirectID"] == ["1"]
    assert query["ViewMode"] == ["1"] and query["CustomReturnSiteName"] == ["City Water"]
    _landed(httpx.get(answer.headers["location"], timeout=10))


def test_a_rest_biller_without_an_ic_key_is_refused_at_the_partner_call(live: LiveBridge) -> None:
    biller, key = live.add_rest_biller(ic_key="")
    answer = live.create_login(biller.name, key)
    assert answer.status_code == 409
    assert answer.json()["error"] == "ic_not_configured" and "--ic-api-key" in answer.json()["detail"]


def test_a_launch_whose_biller_lost_its_ic_key_is_refused_without_spending_the_ticket(live: LiveBridge) -> None:
    biller, key = live.add_rest_biller()
    url = live.launch_url(biller.name, key)
    sealed = biller.ic_api_key
    live.update_biller(biller.name, ic_api_key=None)
    refused = httpx.get(url, timeout=30)
    assert refused.status_code == 409 and "your sign-in link was not used" in refused.text
    assert live.audit(biller.name, "rest_sso")[-1].outcome == "refused"
    live.update_biller(biller.name, ic_api_key=sealed)
    _landed(live.open(url))


def test_the_same_partner_call_signs_in_with_saml_once_the_biller_switches_from_rest(live: LiveBridge) -> None:
    biller, key = live.add_rest_biller()
    body = {"deep_link": "paperless"}
    _landed(live.open(live.launch_url(biller.name, key, **body)))
    live.update_biller(biller.name, sso_method="saml")
    answer = httpx.get(live.launch_url(biller.name, key, **body), timeout=30)
    assert answer.status_code == 303
    assert answer.headers["location"].startswith(f"{live.base_url}/simulator/saml/{biller.biller_guid}?")
    assert "DeepLinkID=2" in answer.headers["location"]


def test_the_simulator_refuses_an_api_key_it_does_not_know(live: LiveBridge) -> None:
    answer = httpx.post(f"{live.base_url}/simulator/api/v1/remoteauthentication/retrieveusers",
                        json={"AccountNumber": ACCOUNT, "EmailAddress": EMAIL},
                        headers={"Authorization": "Basic bm90LWEta2V5"}, timeout=10)
    assert answer.status_code == 401 and answer.json() == {"Message": "Unauthorized"}


def test_the_simulators_records_page_lists_the_accounts_and_refuses_an_unknown_fault(live: LiveBridge) -> None:
    biller, key = live.add_rest_biller()
    _landed(live.open(live.launch_url(biller.name, key, account_number="Listed-42")))
    records = httpx.get(f"{live.base_url}/simulator/ic", timeout=10)
    assert records.status_code == 200
    assert "Listed-42 · pat.payer@example.com · LoginTypeID 1 · customer records: 1" in records.text
    refused = httpx.post(f"{live.base_url}/simulator/ic/faults", data={"operation": "nope", "kind": "timeout"},
                         timeout=10)
    assert refused.status_code == 400 and "operation: one of retrieve_users" in refused.text


def test_an_ic_api_key_the_simulated_ic_never_issued_is_refused_as_ic_would(live: LiveBridge) -> None:
    biller, key = live.add_rest_biller(ic_key="a-key-ic-never-issued")
    first, page = live.open(live.launch_url(biller.name, key))
    assert page is None and first.status_code == 502 and "ic_credentials_refused" in first.text
    assert "failed at retrieve_users: ic_credentials_refused" in _detail(live, biller.name)
