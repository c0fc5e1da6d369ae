"""Who the bridge vouches for: the payer as the partner portal authenticated them.

The same record serves every path that signs someone in (partner API
tickets, partner-signed tickets, tests), so adding a path never changes it.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

CLAIMS = ("Email", "LoginType", "AccountNumber")


@dataclass(frozen=True, slots=True)
class Identity:
    email: str
    account_number: str
    login_type: str  # the value IC receives, already mapped from the partner's role
    biller: str
    role: str | None = None

    def claims(self) -> dict[str, str]:
        """The SAML claims under their canonical names (an SP may rename them)."""
        return {"Email": self.email, "LoginType": self.login_type, "AccountNumber": self.account_number}

    def to_dict(self) -> dict[str, Any]:
        # What dataclasses.asdict gives (every field is a str or None), without its recursive deep copy:
        # the session cookie is written from this on every login (issue 21).
        return {name: getattr(self, name) for name in _FIELDS}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Identity:
        return cls(
            email=str(data["email"]),
            account_number=str(data["account_number"]),
            login_type=str(data["login_type"]),
            biller=str(data["biller"]),
            role=data.get("role"),
        )


_FIELDS = tuple(field.name for field in fields(Identity))
