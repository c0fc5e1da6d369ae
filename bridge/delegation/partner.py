"""A small Python helper for partner portals: create launch URLs, or sign launch tickets locally.

    from bridge.delegation.partner import PartnerClient
    client = PartnerClient("https://bridge.example.com", api_key)
    launch = client.create_login("demo", email="pat@example.com", account_number="101Invoice",
                                 role="owner", deep_link="bills", view_mode=1)
    # redirect the payer's browser (or the iFrame) to launch.url within 60 seconds

Partners without a back channel sign their own tickets with the partner secret
that ``icbridge billers add`` printed: ``partner_launch_url(...)``.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from bridge.delegation.launches import launch_url
from bridge.delegation.tickets import mint_partner_ticket


class PartnerApiError(Exception):
    """The bridge refused the request; ``error`` and ``detail`` are the bridge's JSON error."""

    def __init__(self, status: int, error: str, detail: str) -> None:
        super().__init__(f"{status} {error}: {detail}")
        self.status = status
        self.error = error
        self.detail = detail


@dataclass(frozen=True)
class Launch:
    url: str
    expires_at: str


class PartnerClient:
    def __init__(
        self, base_url: str, api_key: str, *, timeout: float = 10.0, transport: httpx.BaseTransport | None = None
    ) -> None:
        self._client = httpx.Client(
            base_url=base_url.rstrip("/"), timeout=timeout, transport=transport,
            headers={"Authorization": f"Bearer {api_key}"},
        )

    def create_login(self, biller: str, *, email: str, account_number: str, **options: Any) -> Launch:
        """``options``: role or login_type, deep_link, view_mode, flow (see the OpenAPI document)."""
        body = {"biller": biller, "email": email, "account_number": account_number, **options}
        response = self._client.post("/api/v1/logins", json=body)
        if response.status_code != 201:
            try:
                error = response.json()
            except ValueError:
                error = {"error": "http_error", "detail": response.text[:200]}
            raise PartnerApiError(response.status_code, str(error.get("error")), str(error.get("detail")))
        data = response.json()
        return Launch(url=data["url"], expires_at=data["expires_at"])

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> PartnerClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def partner_launch_url(
    base_url: str, partner_secret: str, biller: str, *, email: str, account_number: str,
    now: datetime | None = None, **options: Any,
) -> str:
    """A launch URL signed by the partner itself (no call to the bridge); valid for the bridge's ticket lifetime."""
    launch = {"biller": biller, "email": email, "account_number": account_number, **options}
    token = mint_partner_ticket(
        partner_secret, launch, ticket_id="_" + secrets.token_hex(16), now=now or datetime.now(UTC)
    )
    return launch_url(base_url.rstrip("/"), token, partner=True)
