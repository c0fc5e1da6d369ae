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
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from itsdangerous import BadSignature, Signer, TimestampSigner, URLSafeTimedSerializer
from itsdangerous.encoding import want_bytes

MAX_TOKEN_LENGTH = 4096
FUTURE_TOLERANCE = 60  # seconds a token may appear to come from the future (clock skew between nodes)


class TokenError(Exception):
    """Base for token failures; callers turn them into their own user-facing errors."""


class TokenExpired(TokenError):
    pass


class TokenInvalid(TokenError):
    pass


class _Signer(TimestampSigner):
    """itsdangerous's TimestampSigner with two documented hooks overridden (issue 21: a login signs and
    verifies its session cookie; stock itsdangerous builds a signer and derives each key on every call):

    - ``derive_key``: every secret's key is derived once, when the signer is built (the same
      derivation: the derived key is a pure function of the salt and the secret);
    - ``get_timestamp``: the caller's clock when :meth:`TimedTokens.dump` set one on this thread
      (so one signer serves every thread), the OS clock otherwise.
    """

    _stamp = threading.local()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._derived = {key: TimestampSigner.derive_key(self, key) for key in self.secret_keys}

    def derive_key(self, secret_key: str | bytes | None = None) -> bytes:
        key = self.secret_keys[-1] if secret_key is None else want_bytes(secret_key)
        derived = self._derived.get(key)
        return derived if derived is not None else super().derive_key(key)

    def get_timestamp(self) -> int:
        stamp: int | None = getattr(self._stamp, "value", None)
        return super().get_timestamp() if stamp is None else stamp

    def sign_at(self, value: bytes, stamp: int) -> bytes:
        self._stamp.value = stamp
        try:
            return self.sign(value)
        finally:
            self._stamp.value = None


class _Serializer(URLSafeTimedSerializer):
    """Builds its signer once (``make_signer`` is documented to make one per call); the signer keeps no
    per-call state, so sharing it is safe."""

    def __init__(self, secrets: list[str], *, salt: str) -> None:
        super().__init__(secrets, salt=salt, signer=_Signer, signer_kwargs={"digest_method": hashlib.sha256})
        self.signer_once = _Signer(self.secret_keys, salt=self.salt, digest_method=hashlib.sha256)

    def make_signer(self, salt: str | bytes | None = None) -> Signer:
        if salt is None or want_bytes(salt) == self.salt:
            return self.signer_once
        return super().make_signer(salt)


class TimedTokens:
    def __init__(self, secrets: Sequence[str], *, salt: str) -> None:
        if not secrets:
            raise ValueError("at least one secret is required")
        self._serializer = _Serializer(list(secrets), salt=salt)

    def dump(self, payload: Any, *, now: datetime) -> str:
        return self.dump_stamped(payload, now=now)[0]

    def dump_stamped(self, payload: Any, *, now: datetime) -> tuple[str, datetime]:
        """The token and when it says it was signed (whole seconds, as it carries it)."""
        stamp = int(now.timestamp())
        token = self._serializer.signer_once.sign_at(self._serializer.dump_payload(payload), stamp).decode()
        return token, datetime.fromtimestamp(stamp, tz=UTC)

    def load(self, token: str | None, *, max_age: int, now: datetime) -> Any:
        """The payload, or TokenInvalid / TokenExpired."""
        return self.load_stamped(token, max_age=max_age, now=now)[0]

    def load_stamped(self, token: str | None, *, max_age: int, now: datetime) -> tuple[Any, datetime]:
        """The payload and when it was signed, or TokenInvalid / TokenExpired."""
        if not token or len(token) > MAX_TOKEN_LENGTH:
            raise TokenInvalid("missing or oversized token")
        try:
            payload, signed_at = self._serializer.loads(token, max_age=None, return_timestamp=True)
        except BadSignature:
            raise TokenInvalid("bad signature") from None
        check_age(signed_at, max_age=max_age, now=now)
        return payload, signed_at


    def peek(self, token: str) -> Any:
        """The payload without verifying anything: only to pick which key verifies it."""
        if not token or len(token) > MAX_TOKEN_LENGTH:
            return None
        try:
            return self._serializer.loads_unsafe(token)[1]
        except Exception:  # loads_unsafe may still raise on undecodable junk
            return None


def check_age(signed_at: datetime, *, max_age: int, now: datetime) -> None:
    """TokenExpired past ``max_age``; TokenInvalid from further in the future than another node's skew."""
    age = (now - signed_at).total_seconds()
    if age > max_age:
        raise TokenExpired("token expired")
    if age < -FUTURE_TOLERANCE:
        raise TokenInvalid("token from the future")
