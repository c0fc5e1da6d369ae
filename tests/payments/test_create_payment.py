"""``POST /api/v1/payments`` through the bridge's CPV2 client to the simulator, over real HTTP."""

from __future__ import annotations

from decimal import Decimal

from bridge.billers import get_biller

from .conftest import CUSTOMER, INVOICE, LiveBridge


def _sim_page(live: LiveBridge, url: str) -> dict:
    from bridge.simulator.cpv2 import PAGE_PREFIX

    page_id = url.rsplit("/", 1)[1]
    data = live.instance.store.take_pending(PAGE_PREFIX + page_id, live.instance.clock())
    assert data is not None
    return data


def test_a_payment_answers_201_with_ics_payment_page_url(live: LiveBridge) -> None:
    answer = live.create_payment()
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert set(body) == {"payment_id", "url", "created_at"}
    assert body["url"].startswith(f"{live.base_url}/simulator/cloudpayments/")
    assert body["created_at"].endswith("Z")
    assert live.http.get(body["url"]).status_code == 200


def test_ic_receives_its_field_names_dates_as_mm_dd_yyyy_and_exact_amounts(live: LiveBridge) -> None:
    invoices = [{**INVOICE, "balance_due": 0.1}, {**INVOICE, "invoice_number": "INV-2", "balance_due": "0.20"}]
    answer = live.create_payment(customers=[{**CUSTOMER, "invoices": invoices}], view_mode=0)
    assert answer.status_code == 201, answer.text
    page = _sim_page(live, answer.json()["url"])
    assert page["total"] == "0.30"  # 0.1 + 0.2 as decimals, not 0.30000000000000004
    assert page["customers"][0]["invoices"][0]["due_date"] == "12/15/2026"
    assert page["customers"][0]["invoices"][0]["balance_due"] == "0.10"
    assert page["view_mode"] == 0
    assert page["postback_url"].startswith(f"{live.base_url}/ic/postback/")


def test_the_biller_reference_defaults_to_the_payment_id(live: LiveBridge) -> None:
    answer = live.create_payment().json()
    assert _sim_page(live, answer["url"])["biller_reference"] == answer["payment_id"]


def test_the_partners_biller_reference_is_passed_to_ic(live: LiveBridge) -> None:
    answer = live.create_payment(biller_reference="ORDER-77").json()
    assert _sim_page(live, answer["url"])["biller_reference"] == "ORDER-77"


def test_each_postback_url_is_unguessable_and_per_payment(live: LiveBridge) -> None:
    first = _sim_page(live, live.create_payment().json()["url"])["postback_url"]
    second = _sim_page(live, live.create_payment().json()["url"])["postback_url"]
    assert first != second and len(first.rsplit("/", 1)[1]) >= 40


def test_the_payment_is_recorded_requested_with_its_total(live: LiveBridge) -> None:
    payment_id = live.create_payment().json()["payment_id"]
    state = live.payment(payment_id).json()
    assert state["state"] == "requested" and state["amount"] == "42.50" and state["postbacks"] == []
    assert live.audit("payment.requested")[-1].detail.startswith(payment_id)


def test_a_bad_field_is_400_naming_it(live: LiveBridge) -> None:
    bad = {**CUSTOMER, "invoices": [{**INVOICE, "balance_due": "12.345"}]}
    answer = live.create_payment(customers=[bad])
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_field"
    assert answer.json()["detail"].startswith("customers[0].invoices[0].balance_due: ")


def test_an_iso_date_that_does_not_exist_is_refused(live: LiveBridge) -> None:
    bad = {**CUSTOMER, "invoices": [{**INVOICE, "due_date": "2026-02-30"}]}
    assert live.create_payment(customers=[bad]).json()["detail"].startswith("customers[0].invoices[0].due_date")


def test_an_unknown_field_is_refused_by_name(live: LiveBridge) -> None:
    answer = live.create_payment(allow_paypal=True)
    assert answer.status_code == 400 and answer.json()["detail"] == "allow_paypal: is not a known field"


def test_without_a_bearer_key_it_is_401(live: LiveBridge) -> None:
    answer = live.http.post(f"{live.base_url}/api/v1/payments", json={"biller": "demo"})
    assert answer.status_code == 401 and answer.json()["error"] == "unauthorized"


def test_a_biller_without_an_ic_api_key_is_409_saying_how_to_set_it(live: LiveBridge) -> None:
    from dataclasses import replace

    biller = replace(get_biller(live.instance.store, "demo"), ic_api_key=None)
    live.instance.store.put_biller(biller.record())
    answer = live.create_payment()
    assert answer.status_code == 409 and answer.json()["error"] == "ic_not_configured"
    assert "--ic-api-key" in answer.json()["detail"]


def test_another_billers_payment_is_not_found(live: LiveBridge) -> None:
    payment_id = live.create_payment().json()["payment_id"]
    from bridge.billers import Biller, issue_api_key, validate_biller

    other = validate_biller(Biller(name="other", biller_guid="22222222-2222-4333-8444-555555555555",
                                   sp_entity_id=f"{live.base_url}/simulator/metadata"))
    live.instance.store.put_biller(other.record(created_at=live.instance.clock()))
    key = issue_api_key(live.instance.store, "other", now=live.instance.clock())
    answer = live.http.get(f"{live.base_url}/api/v1/payments/{payment_id}",
                           headers={"Authorization": f"Bearer {key}"})
    assert answer.status_code == 404 and answer.json()["error"] == "not_found"


def test_amounts_are_decimal_end_to_end(live: LiveBridge) -> None:
    from bridge.payments.store import PaymentStore

    payment_id = live.create_payment(customers=[{**CUSTOMER, "invoices": [{**INVOICE, "balance_due": 19.99}]}])
    record = PaymentStore(live.instance.store).get_payment(payment_id.json()["payment_id"])  # type: ignore[arg-type]
    assert record is not None and record.amount == Decimal("19.99") and isinstance(record.amount, Decimal)


def test_a_repeated_key_is_refused_as_everywhere_in_the_api(live: LiveBridge) -> None:
    raw = b'{"biller": "demo", "biller": "other", "customers": [{"account_number": "101Invoice"}]}'
    answer = live.http.post(f"{live.base_url}/api/v1/payments", content=raw,
                            headers={"Authorization": f"Bearer {live.init.api_key}",
                                     "Content-Type": "application/json"})
    assert answer.status_code == 400 and answer.json()["detail"].startswith("biller: appears more than once")


def test_json_numbers_reach_the_model_as_decimals_never_floats() -> None:
    from bridge.payments.models import parse_payment

    payment = parse_payment(b'{"biller": "demo", "customers": [{"account_number": "a", "invoices": '
                            b'[{"invoice_number": "x", "balance_due": 9999999.99}]}]}')
    assert payment.customers[0].invoices[0].balance_due == Decimal("9999999.99")


def test_the_openapi_document_describes_payments_from_the_validating_model(live: LiveBridge) -> None:
    document = live.http.get(f"{live.base_url}/api/v1/openapi.json").json()
    assert {"/api/v1/payments", "/api/v1/payments/{payment_id}"} <= set(document["paths"])
    schema = document["components"]["schemas"]["PaymentCreate"]
    assert set(schema["required"]) == {"biller", "customers"} and schema["additionalProperties"] is False
    assert "balance_due" in document["components"]["schemas"]["Invoice"]["required"]
