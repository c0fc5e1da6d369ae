"""``icbridge payments list|show|retry`` on a live instance's store."""

from __future__ import annotations

import json

import pytest

from bridge.cli import main

from .conftest import LiveBridge, Webhook


def _run(live: LiveBridge, capsys: pytest.CaptureFixture[str], *args: str) -> dict:
    assert main(["payments", *args, "--config", str(live.init.config), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_list_shows_the_newest_payment_first(live: LiveBridge, capsys: pytest.CaptureFixture[str]) -> None:
    first = live.create_payment(biller_reference="A-1").json()["payment_id"]
    second = live.create_payment(biller_reference="A-2").json()["payment_id"]
    rows = _run(live, capsys, "list")["payments"]
    assert [r["payment_id"] for r in rows[:2]] == [second, first]
    assert rows[0]["amount"] == "42.50" and rows[0]["state"] == "requested"


def test_show_has_the_postbacks_and_every_delivery_attempt(
    live: LiveBridge, webhook: Webhook, capsys: pytest.CaptureFixture[str],
) -> None:
    live.set_webhook(webhook.url)
    answer = live.create_payment().json()
    live.pay(answer["url"])
    webhook.status = 500
    live.deliver()
    shown = _run(live, capsys, "show", answer["payment_id"])
    assert shown["state"] == "approved" and len(shown["postbacks"]) == 1
    (delivery,) = shown["webhook_deliveries"]
    assert delivery["state"] == "pending" and delivery["history"][0]["status"] == 500


def test_retry_makes_a_given_up_delivery_due_again(
    live: LiveBridge, webhook: Webhook, capsys: pytest.CaptureFixture[str],
) -> None:
    live.set_webhook(webhook.url)
    answer = live.create_payment().json()
    live.pay(answer["url"])
    webhook.status = 500
    live.deliver()
    retried = _run(live, capsys, "retry", answer["payment_id"])["retried"]
    assert len(retried) == 1
    webhook.status = 200
    assert live.deliver() == 1
    assert live.payment(answer["payment_id"]).json()["webhook_deliveries"][0]["state"] == "delivered"


def test_show_of_an_unknown_payment_is_one_error_line(live: LiveBridge, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["payments", "show", "pay_nope", "--config", str(live.init.config)]) == 1
    assert capsys.readouterr().err.strip().endswith("no payment 'pay_nope'")
