"""The registration decision tree of Cloud SSO Connect over REST, as pure logic over the IC adapter.

From the partner designs (AquaTrax, MyMeter, inHANCE), because the portal does not know whether
the payer is registered on IC:

1. look the payer up (Retrieve Users, by account number and email);
2. the account does not exist: create the customer record, register the account, authenticate
   (branch ``created``); it exists but this email is not registered: register, authenticate
   (``registered``); registered: authenticate (``existing``).

What makes it safe to run for many payers on many nodes:

- The mutating steps run under ``lock`` (one per biller and account, held in the shared store):
  two first launches for the same new account create **one** customer record. The second waits,
  looks up again, and finds the work done.
- Every launch starts with a fresh look-up, so a launch that failed after "create" and before
  "register" resumes at "register" next time, and a payer who registered on IC directly is seen.
  Nothing IC may change is cached.
- Only the look-up is retried automatically (it changes nothing); create, register and authenticate
  are never repeated within a launch.

``trail`` records each IC call with its outcome for the audit row, whether the tree ends in a token
or an exception.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from bridge.errors import ICError, ICUnavailable
from bridge.invoicecloud.remote_auth import (
    AUTHENTICATE,
    CREATE_CUSTOMER,
    REGISTER_ACCOUNTS,
    RETRIEVE_USERS,
    Lookup,
    RemoteToken,
)

EXISTING, REGISTERED, CREATED = "existing", "registered", "created"
LOGIN_TYPE_IDS = (1, 5)
T = TypeVar("T")


class RemoteAuth(Protocol):
    """What the tree needs from IC (``bridge.invoicecloud.remote_auth.RemoteAuthClient``, or a fake in tests)."""

    async def retrieve_users(self, *, account_number: str, email: str) -> Lookup: ...

    async def create_customer(self, *, account_number: str, email: str) -> str: ...

    async def register_accounts(self, *, email: str, account_numbers: list[str], login_type_id: int) -> None: ...

    async def authenticate(
        self, *, account_number: str, email: str, login_type_id: int, css_url: str | None
    ) -> RemoteToken: ...


@dataclass(frozen=True, slots=True)
class Payer:
    account_number: str
    email: str
    login_type_id: int  # the biller's: always 5 for one partner, always 1 for others
    css_url: str | None = None


@dataclass
class Trail:
    """The IC calls of one launch, in order, as (operation, outcome); the branch once known."""

    calls: list[tuple[str, str]] = field(default_factory=list)
    branch: str | None = None

    def summary(self) -> str:
        return " ".join(f"{op}={outcome}" for op, outcome in self.calls)


@dataclass(frozen=True, slots=True)
class SignedIn:
    branch: str
    token: RemoteToken


Lock = Callable[[], AbstractAsyncContextManager[None]]


async def _step(trail: Trail, operation: str, call: Awaitable[T]) -> T:
    try:
        result = await call
    except ICError as exc:
        trail.calls.append((operation, exc.outcome))
        raise
    trail.calls.append((operation, "ok"))
    return result


async def _look_up(ic: RemoteAuth, payer: Payer, trail: Trail, *, attempts: int, backoff: float) -> Lookup:
    """Retrieve Users, retried when IC was unavailable: a look-up changes nothing, so repeating it is safe."""
    for attempt in range(1, attempts + 1):
        try:
            return await _step(trail, RETRIEVE_USERS,
                               ic.retrieve_users(account_number=payer.account_number, email=payer.email))
        except ICUnavailable:
            if attempt == attempts:
                raise
            await asyncio.sleep(backoff * attempt)
    raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises


async def sign_in(
    ic: RemoteAuth, payer: Payer, *, lock: Lock, trail: Trail, lookup_attempts: int = 2, backoff: float = 0.2
) -> SignedIn:
    """Run the tree for one payer and return IC's RemoteAuthenticationToken with the branch taken."""
    found = await _look_up(ic, payer, trail, attempts=lookup_attempts, backoff=backoff)
    branch = EXISTING
    if not found.registered:
        async with lock():
            # Another launch may have created or registered while this one waited for the lock.
            found = await _look_up(ic, payer, trail, attempts=lookup_attempts, backoff=backoff)
            if not found.account_exists:
                await _step(trail, CREATE_CUSTOMER,
                            ic.create_customer(account_number=payer.account_number, email=payer.email))
                branch = CREATED
            if not found.registered:
                await _step(trail, REGISTER_ACCOUNTS, ic.register_accounts(
                    email=payer.email, account_numbers=[payer.account_number], login_type_id=payer.login_type_id,
                ))
                branch = branch if branch == CREATED else REGISTERED
    trail.branch = branch
    token = await _step(trail, AUTHENTICATE, ic.authenticate(
        account_number=payer.account_number, email=payer.email, login_type_id=payer.login_type_id,
        css_url=payer.css_url,
    ))
    return SignedIn(branch=branch, token=token)
