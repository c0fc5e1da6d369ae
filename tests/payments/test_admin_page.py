"""The admin console's Payments pages: requests, PostBacks (accepted and refused), deliveries, retry."""

from __future__ import annotations

from admin.conftest import csrf_of

from .conftest import LiveBridge, Webhook


def _sign_in(live: LiveBridge) -> None:
    form = live.http.get(f"{live.base_url}/admin/login")
    answer = live.http.post(f"{live.base_url}/admin/login",
                            data={"csrf": csrf_of(form.text), "token": live.init.admin_token})
    assert answer.status_code == 303, answer.text[:300]


def test_the_payments_page_lists_payments_and_refused_postbacks(live: LiveBridge) -> None:
    payment_id = live.create_payment(biller_reference="ORDER-1").json()["payment_id"]
    live.http.post(f"{live.base_url}/ic/postback/{'x' * 43}", data={"PaymentGUID": "g", "Approved": "True"})
    _sign_in(live)
    page = live.http.get(f"{live.base_url}/admin/payments")
    assert page.status_code == 200
    assert f'data-payment="{payment_id}"' in page.text and "ORDER-1" in page.text
    assert "no payment waits for a PostBack at this URL" in page.text
    assert 'aria-current="page">Payments<' in page.text


def test_a_payment_page_shows_postbacks_and_every_attempt_and_retries(live: LiveBridge, webhook: Webhook) -> None:
    live.set_webhook(webhook.url)
    answer = live.create_payment().json()
    live.pay(answer["url"])
    webhook.status = 500
    live.deliver()
    _sign_in(live)
    page = live.http.get(f"{live.base_url}/admin/payments/{answer['payment_id']}")
    assert page.status_code == 200 and 'id="payment-state">approved<' in page.text
    assert "HTTP 500" in page.text and 'data-delivery-state="pending"' in page.text
    event_id = page.text.split('data-event="')[1].split('"')[0]
    retried = live.http.post(f"{live.base_url}/admin/payments/{answer['payment_id']}/retry",
                             data={"csrf": csrf_of(page.text), "event_id": event_id})
    assert retried.status_code == 303
    shown = live.http.get(f"{live.base_url}{retried.headers['location']}")
    assert f"Delivery of {event_id} is due again now." in shown.text
    webhook.status = 200
    assert live.deliver() == 1
    assert 'data-delivery-state="delivered"' in live.http.get(
        f"{live.base_url}/admin/payments/{answer['payment_id']}").text
    assert live.audit("payment.webhook.retry")[-1].actor == "admin:token"


def test_a_retry_without_the_csrf_token_changes_nothing(live: LiveBridge, webhook: Webhook) -> None:
    live.set_webhook(webhook.url)
    answer = live.create_payment().json()
    live.pay(answer["url"])
    _sign_in(live)
    refused = live.http.post(f"{live.base_url}/admin/payments/{answer['payment_id']}/retry", data={"event_id": "x"})
    assert refused.status_code in (400, 403)


def test_the_payments_page_needs_a_signed_in_admin(live: LiveBridge) -> None:
    answer = live.http.get(f"{live.base_url}/admin/payments")
    assert answer.status_code == 303 and answer.headers["location"] == "/admin/login"
