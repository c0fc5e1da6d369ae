"""``Idempotency-Key``: per biller, 24 h; a retry replays the first answer; two concurrent identical calls make
one IC call."""

from __future__ import annotations

import threading
from datetime import timedelta

import httpx

from bridge.billers import Biller, issue_api_key, validate_biller
from bridge.clock import utcnow
from bridge.invoicecloud.credentials import API_KEY, secret_box, set_secret
from bridge.simulator.cpv2 import simulator_api_key

from .conftest import CUSTOMER, LiveBridge


def _ic_calls(live: LiveBridge) -> float:
    sample = live.instance.metrics.registry.get_sample_value("bridge_ic_call_seconds_count", {"service": "cpv2"})
    return sample or 0.0


def _keyed(live: LiveBridge, key: str, **body: object) -> httpx.Response:
    return live.create_payment(headers={"Idempotency-Key": key}, **body)


def test_two_concurrent_identical_calls_make_one_ic_call_and_get_one_answer(live: LiveBridge) -> None:
    slow = [{**CUSTOMER, "account_number": "SIM-DELAY"}]  # the simulator answers after a second
    answers: list[httpx.Response] = []
    barrier = threading.Barrier(2)

    def call() -> None:
        with httpx.Client(timeout=15.0) as http:
            barrier.wait()
            answers.append(http.post(f"{live.base_url}/api/v1/payments",
                                     json={"biller": "demo", "customers": slow},
                                     headers={"Authorization": f"Bearer {live.init.api_key}",
                                              "Idempotency-Key": "order-1"}))

    threads = [threading.Thread(target=call) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert [a.status_code for a in answers] == [201, 201]
    assert answers[0].json() == answers[1].json()
    assert sorted(a.headers.get("idempotent-replayed", "") for a in answers) == ["", "true"]
    assert _ic_calls(live) == 1


def test_a_retry_with_the_same_key_replays_the_first_answer(live: LiveBridge) -> None:
    first = _keyed(live, "order-2")
    again = _keyed(live, "order-2")
    assert again.status_code == 201 and again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert _ic_calls(live) == 1


def test_the_same_key_with_another_body_is_422(live: LiveBridge) -> None:
    _keyed(live, "order-3")
    other = _keyed(live, "order-3", view_mode=0)
    assert other.status_code == 422 and other.json()["error"] == "idempotency_key_reused"


def test_a_failed_ic_call_releases_the_key_for_a_retry(live: LiveBridge) -> None:
    failing = [{**CUSTOMER, "account_number": "SIM-500"}]
    assert _keyed(live, "order-4", customers=failing).status_code == 502
    assert _keyed(live, "order-4", customers=failing).status_code == 502
    assert _ic_calls(live) == 2


def test_keys_are_per_biller(live: LiveBridge) -> None:
    store, settings = live.instance.store, live.instance.settings
    other = validate_biller(Biller(name="other", biller_guid="33333333-2222-4333-8444-555555555555",
                                   sp_entity_id=f"{live.base_url}/simulator/metadata",
                                   ic_api_base=f"{live.base_url}/simulator"))
    other = set_secret(other, API_KEY, simulator_api_key(settings, other.biller_guid), secret_box(settings))
    store.put_biller(other.record(created_at=utcnow()))
    other_key = issue_api_key(store, "other", now=utcnow())
    mine = _keyed(live, "order-5").json()
    theirs = live.create_payment(api_key=other_key, biller="other", headers={"Idempotency-Key": "order-5"})
    assert theirs.status_code == 201 and theirs.json()["payment_id"] != mine["payment_id"]


def test_a_key_is_forgotten_after_24_hours(live: LiveBridge) -> None:
    first = _keyed(live, "order-6").json()
    live.instance.clock = lambda: utcnow() + timedelta(hours=25)  # type: ignore[method-assign]
    later = _keyed(live, "order-6")
    assert later.status_code == 201 and later.json()["payment_id"] != first["payment_id"]


def test_a_key_with_spaces_is_400_naming_the_header(live: LiveBridge) -> None:
    answer = _keyed(live, "order 7")
    assert answer.status_code == 400 and answer.json()["detail"].startswith("Idempotency-Key: ")
