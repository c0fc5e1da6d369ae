"""The registration decision tree over a fake IC: each branch, the lock, resume, and which calls are retried."""

from __future__ import annotations

import asyncio

import pytest

from bridge.errors import ICRejected, ICUnavailable, ICUnexpectedAnswer
from bridge.invoicecloud.registration import CREATED, EXISTING, REGISTERED, Payer, Trail, sign_in

from .fake_ic import FakeIC, memory_lock

PAYER = Payer(account_number="101Invoice", email="Pat@Example.com", login_type_id=5)


def run(ic: FakeIC, payer: Payer = PAYER, trail: Trail | None = None, lock=None):  # type: ignore[no-untyped-def]
    return asyncio.run(sign_in(ic, payer, lock=lock or memory_lock(), trail=trail or Trail(), backoff=0))


def test_a_registered_payer_is_authenticated_without_any_change():
    ic = FakeIC(accounts={"101Invoice": 1}, registered={("101Invoice", "pat@example.com"): 1})
    trail = Trail()
    signed = run(ic, trail=trail)
    assert signed.branch == EXISTING == trail.branch
    assert ic.calls == ["retrieve_users", "authenticate"]
    assert signed.token.reveal() == "token-for-101Invoice"


def test_an_existing_unregistered_account_is_registered_with_the_billers_login_type_then_authenticated():
    ic = FakeIC(accounts={"101Invoice": 1})
    signed = run(ic)
    assert signed.branch == REGISTERED
    assert ic.calls == ["retrieve_users", "retrieve_users", "register_accounts", "authenticate"]
    assert ic.registered == {("101Invoice", "pat@example.com"): 5}
    assert ic.accounts == {"101Invoice": 1}


def test_an_unknown_account_is_created_registered_and_authenticated():
    ic = FakeIC()
    trail = Trail()
    signed = run(ic, trail=trail)
    assert signed.branch == CREATED
    assert trail.summary() == (
        "retrieve_users=ok retrieve_users=ok create_customer=ok register_accounts=ok authenticate=ok"
    )
    assert ic.accounts == {"101Invoice": 1}


def test_two_concurrent_first_launches_create_one_customer_record():
    ic = FakeIC(delay=0.01)
    lock = memory_lock()

    async def both():  # type: ignore[no-untyped-def]
        return await asyncio.gather(*(sign_in(ic, PAYER, lock=lock, trail=Trail(), backoff=0) for _ in range(2)))

    first, second = asyncio.run(both())
    assert ic.accounts == {"101Invoice": 1}
    assert sorted([first.branch, second.branch]) == [CREATED, EXISTING]
    assert ic.calls.count("register_accounts") == 1


def test_a_failure_between_create_and_register_resumes_at_register_on_the_next_launch():
    ic = FakeIC(failures={"register_accounts": [ICUnavailable("timed out", operation="register_accounts",
                                                               outcome="timeout")]})
    trail = Trail()
    with pytest.raises(ICUnavailable):
        run(ic, trail=trail)
    assert trail.calls[-1] == ("register_accounts", "timeout")
    assert ic.accounts == {"101Invoice": 1}
    signed = run(ic)
    assert signed.branch == REGISTERED
    assert ic.accounts == {"101Invoice": 1}, "the resumed launch must not create a second customer record"


def test_a_lookup_that_times_out_once_is_retried():
    timeout = ICUnavailable("timed out", operation="retrieve_users", outcome="timeout")
    ic = FakeIC(accounts={"101Invoice": 1}, registered={("101Invoice", "pat@example.com"): 1},
                failures={"retrieve_users": [timeout]})
    trail = Trail()
    assert run(ic, trail=trail).branch == EXISTING
    assert trail.calls[:2] == [("retrieve_users", "timeout"), ("retrieve_users", "ok")]


@pytest.mark.parametrize("operation", ["create_customer", "register_accounts", "authenticate"])
def test_a_changing_call_that_times_out_is_never_repeated(operation):
    ic = FakeIC(failures={operation: [ICUnavailable("timed out", operation=operation, outcome="timeout")]})
    with pytest.raises(ICUnavailable):
        run(ic)
    assert ic.calls.count(operation) == 1


def test_an_ic_error_message_is_not_retried_even_on_a_lookup():
    ic = FakeIC(failures={"retrieve_users": [ICRejected("no", operation="retrieve_users", ic_message="Locked")]})
    with pytest.raises(ICRejected):
        run(ic)
    assert ic.calls == ["retrieve_users"]


def test_a_payer_registered_on_ic_between_two_launches_is_seen_on_the_second():
    ic = FakeIC(accounts={"101Invoice": 1})
    ic.failures["register_accounts"] = [ICUnexpectedAnswer("bad", operation="register_accounts")]
    with pytest.raises(ICUnexpectedAnswer):
        run(ic)
    ic.registered[("101Invoice", "pat@example.com")] = 1  # the payer registered on IC directly
    ic.calls.clear()
    assert run(ic).branch == EXISTING
    assert ic.calls == ["retrieve_users", "authenticate"]


def test_the_token_does_not_show_in_repr_or_str():
    signed = run(FakeIC(accounts={"101Invoice": 1}, registered={("101Invoice", "pat@example.com"): 1}))
    assert "token-for" not in repr(signed) and "token-for" not in str(signed.token)
