"""IC's PostBack at ``/ic/postback/<token>``: accepted from the simulator, forgeries and mismatches refused and
recorded, duplicates stored once, IC's formats read leniently and stored typed."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from bridge.instance import DEMO_BILLER_GUID
from bridge.invoicecloud.postback import PostbackMalformed, parse
from bridge.payments.store import PaymentStore
from bridge.simulator.cpv2 import PAGE_PREFIX

from .conftest import LiveBridge


def _payment(live: LiveBridge, **body: object) -> tuple[str, str, str]:
    """(payment_id, payment page URL, PostBack URL) of a new payment."""
    answer = live.create_payment(**body).json()
    page_id = answer["url"].rsplit("/", 1)[1]
    page = live.instance.store.take_pending(PAGE_PREFIX + page_id, live.instance.clock())
    live.instance.store.put_pending(PAGE_PREFIX + page_id, page, live.instance.clock().replace(year=2100))
    return answer["payment_id"], answer["url"], page["postback_url"]


def _fields(payment_id: str, **overrides: str) -> dict[str, str]:
    fields = {
        "BillerGUID": DEMO_BILLER_GUID, "PaymentDate": "11/30/2026 3:04:05 PM", "InvoiceNumber": "INV-1001",
        "Approved": "True", "CustomerName": "Pat Payer", "CustomerAddress": "1 Main St",
        "CustomerCity": "Springfield", "CustomerState": "MA", "CustomerZip": "01101",
        "PaymentGUID": str(uuid.uuid4()), "PaymentAmount": "42.50", "PaymentDescription": "Water bill",
        "PaymentTypeID": "1", "CardType": "Visa", "PaymentMessage": "Approved", "BillerReference": payment_id,
        "ConvenienceFee": "1.95", "RemoteIP": "203.0.113.9",
    }
    return fields | overrides


def _state(live: LiveBridge, payment_id: str) -> dict:
    return live.payment(payment_id).json()


def test_paying_on_the_simulator_page_approves_the_payment(live: LiveBridge) -> None:
    payment_id, url, _postback = _payment(live)
    receipt = live.pay(url)
    assert receipt.status_code == 200 and 'data-approved="true"' in receipt.text
    assert "PostBack to the bridge: HTTP 200" in receipt.text
    state = _state(live, payment_id)
    assert state["state"] == "approved"
    (postback,) = state["postbacks"]
    assert postback["approved"] is True and postback["amount"] == "42.50" and postback["card_type"] == "Visa"
    assert postback["payment_type_id"] == 1 and postback["paid_at"].endswith("Z")


def test_a_declined_card_then_an_approved_one_ends_approved(live: LiveBridge) -> None:
    payment_id, url, _postback = _payment(live)
    declined = live.pay(url, card_number="4000 0000 0000 0002")
    assert 'data-approved="false"' in declined.text
    assert _state(live, payment_id)["state"] == "declined"
    live.pay(url)
    assert _state(live, payment_id)["state"] == "approved"
    assert [p["approved"] for p in _state(live, payment_id)["postbacks"]] == [False, True]


def test_an_ach_payment_is_type_2_without_a_card_type(live: LiveBridge) -> None:
    payment_id, url, _postback = _payment(live)
    live.pay(url, method="ach", routing_number="011000015", account_number="12345678")
    (postback,) = _state(live, payment_id)["postbacks"]
    assert postback["payment_type_id"] == 2 and postback["card_type"] is None


def test_a_postback_to_an_unknown_token_is_404_and_recorded(live: LiveBridge) -> None:
    _payment_id, _url, postback = _payment(live)
    forged = postback[: -len(postback.rsplit("/", 1)[1])] + "A" * 43
    answer = live.http.post(forged, data=_fields("x"))
    assert answer.status_code == 404
    refused = live.audit("payment.postback.refused")
    assert refused and refused[-1].detail == "no payment waits for a PostBack at this URL"
    assert live.instance.metrics.registry.get_sample_value("bridge_postbacks_total", {"outcome": "unknown"}) == 1


@pytest.mark.parametrize(("field", "value", "detail"), [
    ("BillerGUID", "11111111-2222-4333-8444-555555555555", "BillerGUID is not this payment's biller"),
    ("BillerReference", "SOMEONE-ELSE", "BillerReference is not this payment's reference"),
])
def test_a_postback_naming_another_biller_or_reference_is_refused_and_recorded(
    live: LiveBridge, field: str, value: str, detail: str,
) -> None:
    payment_id, _url, postback = _payment(live)
    answer = live.http.post(postback, data=_fields(payment_id, **{field: value}))
    assert answer.status_code == 400 and detail in answer.text
    assert live.audit("payment.postback.refused")[-1].detail == f"{payment_id}: {detail}"
    assert _state(live, payment_id)["state"] == "requested" and _state(live, payment_id)["postbacks"] == []


def test_a_duplicate_payment_guid_is_acknowledged_and_stored_once(live: LiveBridge, webhook) -> None:  # type: ignore[no-untyped-def]
    live.set_webhook(webhook.url)
    payment_id, _url, postback = _payment(live)
    fields = _fields(payment_id)
    first = live.http.post(postback, data=fields)
    second = live.http.post(postback, data=fields)
    assert (first.status_code, second.status_code) == (200, 200)
    assert len(_state(live, payment_id)["postbacks"]) == 1
    assert len(PaymentStore(live.instance.store).events_for(payment_id)) == 1  # type: ignore[arg-type]
    assert len(live.audit("payment.postback")) == 1


def test_a_payment_guid_replayed_to_another_payment_is_refused(live: LiveBridge) -> None:
    first_id, _url, first_postback = _payment(live)
    second_id, _url2, second_postback = _payment(live)
    guid = str(uuid.uuid4())
    assert live.http.post(first_postback, data=_fields(first_id, PaymentGUID=guid)).status_code == 200
    answer = live.http.post(second_postback, data=_fields(second_id, PaymentGUID=guid))
    assert answer.status_code == 400 and "belongs to another payment" in answer.text
    assert _state(live, second_id)["state"] == "requested"


def test_a_postback_without_approved_is_refused_and_recorded(live: LiveBridge) -> None:
    payment_id, _url, postback = _payment(live)
    fields = _fields(payment_id)
    del fields["Approved"]
    answer = live.http.post(postback, data=fields)
    assert answer.status_code == 400 and "Approved: required" in answer.text
    assert live.audit("payment.postback.refused")[-1].detail == f"{payment_id}: Approved: required, True or False"


def test_a_later_decline_does_not_undo_an_approval(live: LiveBridge) -> None:
    payment_id, _url, postback = _payment(live)
    live.http.post(postback, data=_fields(payment_id))
    live.http.post(postback, data=_fields(payment_id, Approved="False"))
    assert _state(live, payment_id)["state"] == "approved"


def test_ic_formats_are_read_leniently_and_stored_typed() -> None:
    parsed = parse(_fields("ref", PaymentAmount="$1,234.50", ConvenienceFee=" 2 ", Approved="true",
                           PaymentDate="11/30/2026 3:04:05 PM", PaymentTypeID="x", PaymentGUID="{ABC-123}"),
                   zone=ZoneInfo("America/New_York"))
    postback = parsed.postback
    assert postback.amount == Decimal("1234.50") and postback.convenience_fee == Decimal("2")
    assert postback.approved is True and postback.payment_type_id is None
    assert postback.paid_at == datetime(2026, 11, 30, 20, 4, 5, tzinfo=UTC)  # EST is UTC-5
    assert postback.payment_guid == "abc-123"


def test_an_iso_payment_date_with_an_offset_keeps_its_offset() -> None:
    parsed = parse(_fields("ref", PaymentDate="2026-07-01T10:00:00-04:00"), zone=ZoneInfo("America/New_York"))
    assert parsed.postback.paid_at == datetime(2026, 7, 1, 14, 0, tzinfo=UTC)


def test_an_unreadable_amount_is_stored_as_unknown_not_refused() -> None:
    parsed = parse(_fields("ref", PaymentAmount="twelve"), zone=ZoneInfo("UTC"))
    assert parsed.postback.amount is None


@pytest.mark.parametrize("guid", ["", "not a guid!", "x" * 65])
def test_a_missing_or_odd_payment_guid_is_malformed(guid: str) -> None:
    with pytest.raises(PostbackMalformed, match="PaymentGUID"):
        parse(_fields("ref", PaymentGUID=guid), zone=ZoneInfo("UTC"))
