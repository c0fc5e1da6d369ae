"""Every way IC can fail becomes a clear 502/504 JSON error, an audit row and a metric; nothing is retried
that may have reached IC."""

from __future__ import annotations

from dataclasses import replace

import httpx
import pytest

from bridge.billers import get_biller
from bridge.invoicecloud import cpv2
from bridge.invoicecloud.credentials import API_KEY, secret_box, set_secret

from .conftest import CUSTOMER, LiveBridge, free_port


def _as(account: str) -> list[dict]:
    return [{**CUSTOMER, "account_number": account}]


def _metric(live: LiveBridge, outcome: str) -> float:
    value = live.instance.metrics.registry.get_sample_value(
        "bridge_ic_calls_total", {"service": "cpv2", "outcome": outcome})
    return value or 0.0


@pytest.mark.parametrize(("account", "status", "code", "detail", "outcome"), [
    ("SIM-REJECT", 502, "ic_rejected", "Invoice Cloud refused the request: Customer account SIM-REJECT is locked.",
     "rejected"),
    ("SIM-500", 502, "ic_unavailable", "Invoice Cloud answered HTTP 500; try again later", "server_error"),
    ("SIM-HTML", 502, "ic_unavailable", "Invoice Cloud's answer was not JSON", "bad_answer"),
    ("SIM-NOURL", 502, "ic_unavailable", "Invoice Cloud answered SUCCESS without a CloudPaymentURL", "bad_answer"),
    ("SIM-SLOW", 504, "ic_unavailable", "Invoice Cloud did not answer in time; the payment page may not exist",
     "timeout"),
])
def test_an_ic_failure_is_a_json_error_an_audit_row_and_a_metric(
    live: LiveBridge, account: str, status: int, code: str, detail: str, outcome: str,
) -> None:
    answer = live.create_payment(customers=_as(account))
    assert answer.status_code == status
    assert answer.json() == {"error": code, "detail": detail}
    assert live.audit("payment.failed")[-1].detail == f"{code}: {detail}"
    assert _metric(live, outcome) == 1
    latency = live.instance.metrics.registry.get_sample_value("bridge_ic_call_seconds_count", {"service": "cpv2"})
    assert latency == 1


def test_a_wrong_ic_api_key_is_ic_rejected_with_ics_words(live: LiveBridge) -> None:
    biller = get_biller(live.instance.store, "demo")
    wrong = set_secret(biller, API_KEY, "not-the-key-ic-knows", secret_box(live.instance.settings))
    live.instance.store.put_biller(wrong.record())
    answer = live.create_payment()
    assert answer.status_code == 502
    assert answer.json() == {"error": "ic_rejected", "detail": "Invoice Cloud refused the request (HTTP 401): "
                                                               "Authorization has been denied for this request."}


def test_an_unreachable_ic_is_502_ic_unavailable(live: LiveBridge) -> None:
    biller = replace(get_biller(live.instance.store, "demo"), ic_api_base=f"http://127.0.0.1:{free_port()}")
    live.instance.store.put_biller(biller.record())
    answer = live.create_payment()
    assert answer.status_code == 502
    assert answer.json() == {"error": "ic_unavailable", "detail": "Invoice Cloud could not be reached"}
    assert _metric(live, "unreachable") == 1


def test_the_simulator_checks_fields_as_ic_would(live: LiveBridge) -> None:
    answer = live.http.post(f"{live.base_url}/simulator/cloudpaymentsapi/v2", json={"Customers": []},
                            headers={"Authorization": cpv2.basic_auth(_demo_key(live))})
    assert answer.status_code == 400 and answer.json()["Message"] == "Customers is required"


def _demo_key(live: LiveBridge) -> str:
    from bridge.invoicecloud.credentials import reveal

    return reveal(get_biller(live.instance.store, "demo"), API_KEY, secret_box(live.instance.settings))


def test_the_simulator_accepts_the_key_alone_and_key_colon(live: LiveBridge) -> None:
    import base64

    key = _demo_key(live)
    body = {"Customers": [{"AccountNumber": "101Invoice"}], "PostBackURL": f"{live.base_url}/ic/postback/x"}
    for encoded in (key, key + ":"):
        header = "Basic " + base64.b64encode(encoded.encode()).decode()
        answer = live.http.post(f"{live.base_url}/simulator/cloudpaymentsapi/v2", json=body,
                                headers={"Authorization": header})
        assert answer.json()["Message"] == "SUCCESS", answer.text


def test_the_client_sends_basic_auth_with_the_key_alone() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"Message": "SUCCESS", "Data": {"CloudPaymentURL": "https://ic.test/p/1"}})

    client = cpv2.Cpv2Client(connect_timeout=1, read_timeout=1, transport=httpx.MockTransport(handler))
    assert client.create_payment_page(api_base="https://ic.test", api_key="k3y", body={}) == "https://ic.test/p/1"
    assert seen[0].headers["authorization"] == "Basic azN5"  # base64("k3y"), no colon
    assert str(seen[0].url) == "https://ic.test/cloudpaymentsapi/v2"


def test_a_connection_never_made_is_retried_once_then_504() -> None:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        raise httpx.ConnectTimeout("no route", request=request)

    client = cpv2.Cpv2Client(connect_timeout=1, read_timeout=1, transport=httpx.MockTransport(handler))
    with pytest.raises(cpv2.IcUnavailable) as failed:
        client.create_payment_page(api_base="https://ic.test", api_key="k", body={})
    assert len(calls) == 2 and failed.value.status == 504


def test_a_request_that_may_have_reached_ic_is_never_retried() -> None:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        raise httpx.ReadTimeout("slow", request=request)

    client = cpv2.Cpv2Client(connect_timeout=1, read_timeout=1, transport=httpx.MockTransport(handler))
    with pytest.raises(cpv2.IcUnavailable):
        client.create_payment_page(api_base="https://ic.test", api_key="k", body={})
    assert len(calls) == 1


def test_a_payment_url_that_is_not_https_is_refused() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"Message": "SUCCESS", "Data": {"CloudPaymentURL": "javascript:alert(1)"}})

    client = cpv2.Cpv2Client(connect_timeout=1, read_timeout=1, transport=httpx.MockTransport(handler))
    with pytest.raises(cpv2.IcUnavailable, match="not an https URL"):
        client.create_payment_page(api_base="https://ic.test", api_key="k", body={})


def test_the_key_never_appears_in_an_error_or_the_audit(live: LiveBridge) -> None:
    key = _demo_key(live)
    for account in ("SIM-REJECT", "SIM-500", "SIM-HTML"):
        assert key not in live.create_payment(customers=_as(account)).text
    assert all(key not in (e.detail or "") for e in live.instance.store.audit_events())


def test_amounts_go_to_ic_as_json_numbers_with_two_decimals() -> None:
    from decimal import Decimal

    text = cpv2.to_json({"BalanceDue": Decimal("12.5"), "Name": "12.50", "Fee": Decimal("0")}).decode()
    assert text == '{"BalanceDue":12.50,"Name":"12.50","Fee":0.00}'


def test_an_ic_message_that_echoes_the_key_is_scrubbed() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"Message": "API key s3cr3t-key-1234 is not active", "Data": None})

    client = cpv2.Cpv2Client(connect_timeout=1, read_timeout=1, transport=httpx.MockTransport(handler))
    with pytest.raises(cpv2.IcRejected) as refused:
        client.create_payment_page(api_base="https://ic.test", api_key="s3cr3t-key-1234", body={})
    assert refused.value.detail == "Invoice Cloud refused the request: API key *** is not active"
