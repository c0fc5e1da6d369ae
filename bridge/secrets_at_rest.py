"""Secrets the bridge keeps in its database (a biller's IC API key, its web service key), encrypted at rest.

The recipe is cryptography's Fernet (AES-128-CBC + HMAC-SHA256, authenticated) behind
``MultiFernet``: the configured secrets (``[invoicecloud] secrets``, newest last, inline,
``env:NAME`` or ``file:PATH`` like every other secret) are each stretched to a Fernet key with
HKDF-SHA256; the newest encrypts, every one decrypts. Rotating is: append a new secret, run
``icbridge billers reseal`` (every stored value re-encrypted with the newest), remove the old one.

A sealed value is bound to its place (``context``, e.g. ``biller:city-water:ic_api_key``) inside
the ciphertext, so a value copied to another biller's row in the database does not open there.
Only the last four characters are kept beside it in clear, for recognising a key in a listing.
Every failure to open is one error that names the place, never the value (no oracle, no leak).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from bridge.errors import BridgeError

_HKDF_INFO = b"bridge.secrets-at-rest.v1"
MIN_SECRET_LENGTH = 32
SHOWN_TAIL = 4
# Below this length even four characters give away too much of the value: show none.
MIN_LENGTH_TO_SHOW_TAIL = 12


class SecretUnavailable(BridgeError):
    """A stored secret cannot be used: no key configured, or none of the configured keys opens it."""

    code = "secret_unavailable"
    status = 500


@dataclass(frozen=True, slots=True)
class Sealed:
    """An encrypted value as stored: the Fernet token and the value's last characters (for display)."""

    token: str
    tail: str = ""

    def masked(self) -> str:
        """What a listing shows: ``…1234``, or ``(set)`` for a value too short to show any of it."""
        return f"…{self.tail}" if self.tail else "(set)"

    def __repr__(self) -> str:  # never the token in a log line or a traceback's locals
        return f"Sealed({self.masked()})"

    def to_json(self) -> dict[str, str]:
        return {"token": self.token, "tail": self.tail}

    @classmethod
    def from_json(cls, value: Any) -> Sealed:
        if not isinstance(value, dict) or not isinstance(value.get("token"), str):
            raise SecretUnavailable("a stored secret is not in the expected form")
        return cls(token=value["token"], tail=str(value.get("tail") or ""))


def _fernet_key(secret: str) -> bytes:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_HKDF_INFO).derive(secret.encode())
    return base64.urlsafe_b64encode(key)


def check_secret(secret: str) -> str:
    """A configured encryption secret must be long enough to be a key, not a password."""
    if len(secret) < MIN_SECRET_LENGTH:
        raise ValueError(
            f"an encryption secret needs at least {MIN_SECRET_LENGTH} characters; make one with "
            "`python3 -c 'import secrets; print(secrets.token_urlsafe(32))'`"
        )
    return secret


class SecretBox:
    """Seal and open secrets with the configured keys (newest last encrypts; all decrypt)."""

    def __init__(self, secrets: Sequence[str], *, setting: str = "invoicecloud.secrets") -> None:
        self._setting = setting
        self._fernet = MultiFernet([Fernet(_fernet_key(s)) for s in reversed(secrets)]) if secrets else None

    @property
    def configured(self) -> bool:
        return self._fernet is not None

    def _keys(self) -> MultiFernet:
        if self._fernet is None:
            raise SecretUnavailable(
                f"{self._setting} is empty, so secrets cannot be stored encrypted: add one "
                "(a new `icbridge init` writes one) and try again"
            )
        return self._fernet

    def seal(self, value: str, *, context: str) -> Sealed:
        plaintext = json.dumps({"c": context, "v": value}, separators=(",", ":")).encode()
        tail = value[-SHOWN_TAIL:] if len(value) >= MIN_LENGTH_TO_SHOW_TAIL else ""
        return Sealed(token=self._keys().encrypt(plaintext).decode(), tail=tail)

    def open(self, sealed: Sealed, *, context: str) -> str:
        failure = SecretUnavailable(
            f"the stored {context} cannot be decrypted with any of {self._setting} "
            "(was a secret removed before `icbridge billers reseal`?); set it again"
        )
        try:
            data = json.loads(self._keys().decrypt(sealed.token.encode()))
        except (InvalidToken, ValueError):
            raise failure from None
        if not isinstance(data, dict) or data.get("c") != context or not isinstance(data.get("v"), str):
            raise failure
        return str(data["v"])

    def reseal(self, sealed: Sealed, *, context: str) -> Sealed:
        """The same value encrypted with the newest key (the rotation step)."""
        return self.seal(self.open(sealed, context=context), context=context)
