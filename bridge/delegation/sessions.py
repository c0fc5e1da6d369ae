"""The bridge session: a signed cookie holding the payer's identity between the launch and IC's AuthnRequest.

The cookie (itsdangerous, its own salt, SHA-256, ``max_age`` = idle timeout) carries the
session ID and the launch time; it is issued at the launch and re-issued with each SSO answer
given from it, so the idle timeout slides while the payer uses it. What the cookie cannot say
(signed out? ended everywhere? past its absolute lifetime?) bridge.session_state asks the
store, which every node shares: no sticky sessions. Cookie attributes follow CONTRACT.md:
HttpOnly always; ``SameSite=None; Secure; Partitioned`` when the payer's pages run in a
cross-site iFrame (ViewMode 1) and the base URL is https; Lax otherwise. ``Partitioned``
(CHIPS) keeps the cookie alive in browsers that block third-party cookies: it is kept per
top-level site (the portal), which is exactly where a framed launch and IC's AuthnRequest
happen. The header is written by ``bridge/web/cookies.py``; whether it came back is tested
by the launch's detection hop (``bridge/web/embedding.py``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from bridge.delegation.tokens import TimedTokens, TokenError, TokenExpired, check_age
from bridge.identity import Identity
from bridge.session_state import PAYER, SessionRef

SALT = "bridge.session.v1"
log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Session:
    session_id: str
    identity: Identity
    authn_instant: datetime
    view_mode: int
    deep_link: int
    # When the cookie that carried it was signed (None for a session not read from a cookie): not part of it.
    issued_at: datetime | None = field(default=None, compare=False)

    def ref(self) -> SessionRef:
        """This session as bridge.session_state knows it: started at the launch, ended with its biller's."""
        return SessionRef(kind=PAYER, sid=self.session_id, started_at=self.authn_instant,
                          biller=self.identity.biller)


@dataclass(frozen=True, slots=True)
class CookiePolicy:
    name: str
    secure: bool
    samesite: str  # "none" | "lax"
    max_age: int
    partitioned: bool = False  # CHIPS: only with SameSite=None; Secure (browsers ignore it otherwise)


def cookie_policy(*, name: str, https: bool, view_mode: int, idle_timeout: int) -> CookiePolicy:
    if view_mode == 1 and https:
        return CookiePolicy(name=name, secure=True, samesite="none", max_age=idle_timeout, partitioned=True)
    return CookiePolicy(name=name, secure=https, samesite="lax", max_age=idle_timeout)


def renewal_step(idle_timeout: int) -> int:
    """How fresh a cookie may be and still not be re-issued: a tenth of the idle timeout, at most a minute.

    Re-signing the cookie on every SSO answer cost about a tenth of a login's CPU (issue 21), while
    the idle timeout only needs to slide in coarse steps: a session then ends between
    ``idle_timeout - step`` and ``idle_timeout`` after its last use, never later.
    """
    return min(60, idle_timeout // 10)


def needs_renewal(session: Session, *, now: datetime, idle_timeout: int) -> bool:
    """A new cookie, or one issued at least :func:`renewal_step` ago (or from another node's future)."""
    if session.issued_at is None:
        return True
    age = (now - session.issued_at).total_seconds()
    return not 0 <= age < renewal_step(idle_timeout)


class SessionCodec:
    """The session cookie's signed token, and a memo of the tokens this process signed or verified.

    The memo maps a token, exactly as signed, to the session it carries: a payer's next request
    (IC's AuthnRequest right after the launch) skips the HMAC check and the JSON decoding, about a
    twentieth of a login's CPU (issue 21). Only a token byte-for-byte equal to one that was signed
    here or verified here can hit it, so it vouches for nothing new; the idle timeout is checked on
    every use from the signing time the token carries, and revocation is still asked of
    bridge.session_state. Bounded: cleared when it reaches ``memo_size`` entries.
    """

    def __init__(self, secrets: Sequence[str], *, idle_timeout: int, memo_size: int = 4096) -> None:
        self._tokens = TimedTokens(secrets, salt=SALT)
        self.idle_timeout = idle_timeout
        self._memo: dict[str, Session] = {}
        self._memo_size = memo_size

    def dump(self, session: Session, *, now: datetime) -> str:
        payload: dict[str, Any] = {
            "sid": session.session_id,
            "id": session.identity.to_dict(),
            "at": int(session.authn_instant.timestamp()),
            "vm": session.view_mode,
            "dl": session.deep_link,
        }
        token, issued_at = self._tokens.dump_stamped(payload, now=now)
        self._remember(token, replace(session, issued_at=issued_at))
        return token

    def load(self, value: str | None, *, now: datetime) -> Session | None:
        """The session, or None when absent, tampered with or idle too long."""
        if not value:
            return None
        known = self._memo.get(value)
        try:
            if known is not None and known.issued_at is not None:
                check_age(known.issued_at, max_age=self.idle_timeout, now=now)
                return known
            payload, issued_at = self._tokens.load_stamped(value, max_age=self.idle_timeout, now=now)
            session = Session(
                session_id=str(payload["sid"]),
                identity=Identity.from_dict(payload["id"]),
                authn_instant=datetime.fromtimestamp(int(payload["at"]), tz=now.tzinfo),
                view_mode=int(payload["vm"]),
                deep_link=int(payload["dl"]),
                issued_at=issued_at,
            )
        except TokenExpired:
            return None
        except (TokenError, KeyError, TypeError, ValueError):
            log.info("session cookie refused (tampered, malformed or signed with an unknown secret)")
            return None
        self._remember(value, session)
        return session

    def _remember(self, token: str, session: Session) -> None:
        if len(self._memo) >= self._memo_size:
            self._memo.clear()
        self._memo[token] = session
