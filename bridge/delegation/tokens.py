"""Signed, timestamped tokens (itsdangerous) whose age is judged by the injected clock.

One recipe for every purpose (launch tickets, partner tickets, payer and
admin sessions): a salt per purpose, SHA-256 (itsdangerous defaults to
SHA-1), a key list for rotation (newest last signs, all verify), and an age
check on every load. itsdangerous reads the OS clock both when signing and
in its own ``max_age`` check; both are replaced by the caller's ``now`` so
expiry is testable and consistent across nodes. Tokens are signed, not
encrypted: never put a secret in one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from itsdangerous import BadSignature, TimestampSigner, URLSafeTimedSerializer

MAX_TOKEN_LENGTH = 4096
FUTURE_TOLERANCE = 60  # seconds a token may appear to come from the future (clock skew between nodes)


class TokenError(Exception):
    """Base for token failures; callers turn them into their own user-facing errors."""


class TokenExpired(TokenError):
    pass


class TokenInvalid(TokenError):
    pass


class TimedTokens:
    def __init__(self, secrets: Sequence[str], *, salt: str) -> None:
        if not secrets:
            raise ValueError("at least one secret is required")
        self._serializer = URLSafeTimedSerializer(
            list(secrets), salt=salt, signer_kwargs={"digest_method": hashlib.sha256}
        )

    def dump(self, payload: Any, *, now: datetime) -> str:
        signer = cast(TimestampSigner, self._serializer.make_signer(self._serializer.salt))
        stamp = int(now.timestamp())
        signer.get_timestamp = lambda: stamp  # type: ignore[method-assign]
        return signer.sign(self._serializer.dump_payload(payload)).decode()

    def load(self, token: str | None, *, max_age: int, now: datetime) -> Any:
        """The payload, or TokenInvalid / TokenExpired."""
        if not token or len(token) > MAX_TOKEN_LENGTH:
            raise TokenInvalid("missing or oversized token")
        try:
            payload, signed_at = self._serializer.loads(token, max_age=None, return_timestamp=True)
        except BadSignature:
            raise TokenInvalid("bad signature") from None
        age = (now - signed_at).total_seconds()
        if age > max_age:
            raise TokenExpired("token expired")
        if age < -FUTURE_TOLERANCE:
            raise TokenInvalid("token from the future")
        return payload

    def peek(self, token: str) -> Any:
        """The payload without verifying anything: only to pick which key verifies it."""
        if not token or len(token) > MAX_TOKEN_LENGTH:
            return None
        try:
            return self._serializer.loads_unsafe(token)[1]
        except Exception:  # loads_unsafe may still raise on undecodable junk
            return None
