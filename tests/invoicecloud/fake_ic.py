"""An in-memory IC for the decision tree's unit tests: accounts, registrations, and failures on demand."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from bridge.errors import ICError
from bridge.invoicecloud.remote_auth import Lookup, RemoteToken


@dataclass
class FakeIC:
    accounts: dict[str, int] = field(default_factory=dict)  # account → customer records created for it
    registered: dict[tuple[str, str], int] = field(default_factory=dict)  # (account, email) → LoginTypeID
    calls: list[str] = field(default_factory=list)
    failures: dict[str, list[ICError]] = field(default_factory=dict)  # operation → errors to raise, in order
    delay: float = 0.0  # seconds each call takes, so concurrent launches overlap

    async def _enter(self, operation: str) -> None:
        self.calls.append(operation)
        await asyncio.sleep(self.delay)
        queued = self.failures.get(operation)
        if queued:
            raise queued.pop(0)

    async def retrieve_users(self, *, account_number: str, email: str) -> Lookup:
        await self._enter("retrieve_users")
        return Lookup(account_exists=account_number in self.accounts,
                      registered=(account_number, email.casefold()) in self.registered)

    async def create_customer(self, *, account_number: str, email: str) -> str:
        await self._enter("create_customer")
        self.accounts[account_number] = self.accounts.get(account_number, 0) + 1
        return f"guid-{account_number}"

    async def register_accounts(self, *, email: str, account_numbers: list[str], login_type_id: int) -> None:
        await self._enter("register_accounts")
        for account in account_numbers:
            assert account in self.accounts, "IC cannot register an account it does not know"
            self.registered[(account, email.casefold())] = login_type_id

    async def authenticate(
        self, *, account_number: str, email: str, login_type_id: int, css_url: str | None
    ) -> RemoteToken:
        await self._enter("authenticate")
        assert (account_number, email.casefold()) in self.registered, "IC authenticates registered users only"
        return RemoteToken(f"token-for-{account_number}")


def memory_lock() -> object:
    """A per-test lock standing in for the store's lease (the store's own is tested over real HTTP)."""
    lock = asyncio.Lock()

    @contextlib.asynccontextmanager
    async def held() -> AsyncIterator[None]:
        async with lock:
            yield

    return held
