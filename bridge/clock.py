"""Injectable time and randomness: every module takes these instead of calling the OS."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]
IdFactory = Callable[[], str]


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    """A SAML ID: an NCName (leading underscore), 160 random bits (SAML Core 1.3.4)."""
    return "_" + secrets.token_hex(20)
