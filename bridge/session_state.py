"""Server-side session state shared by admin and payer sessions: absolute lifetime and revocation.

A session is a signed cookie (its codec lives with its kind: bridge.delegation.sessions for
payers, bridge.web.admin.auth for admins) that carries a random session ID and the time the
session started. The cookie alone cannot be taken back, so every use of a session, and every
renewal of its cookie, also asks the store whether it was revoked (:func:`is_live`):

- **Signing out** (``/logout``, SAML Single Logout, ``POST /admin/logout``) revokes that one
  session ID (:func:`revoke`): a copy of the cookie replayed from anywhere is refused after it.
- **Sign out everywhere** (the admin console's Sessions page, ``icbridge sessions revoke``) revokes
  every session of a kind, or every payer session of one biller, that started before now
  (:func:`sign_out_everywhere`).
- **Absolute lifetime**: a session ends ``absolute_lifetime`` after it started whatever its use;
  sliding renewal moves the idle deadline (the cookie's timestamp), never the start.

The store holds revocations only (bridge/store/migrations/0020_session_revocations.sql), so
starting a session writes nothing and each use costs one indexed read
(:meth:`bridge.store.sql.SqlStore.sessions_revoked_before`). Every node reads the same store.

Given a :class:`LivenessCache` (bridge.store_cache.StoreCache), a session found live is remembered
until the store's ``session_revocations`` version moves (any revocation, on any node) or this
process revokes something itself: :func:`live_from_memory` answers without the store while it can,
:func:`is_live` reads the store and remembers a live answer, and :func:`revoke` / :func:`revoke_all` /
:func:`sign_out_everywhere` tell the cache at once. Without a cache, every use reads the store.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal, Protocol

from bridge import audit
from bridge.config import Settings
from bridge.store.base import AuditEvent, Store
from bridge.store.sql import to_us

Kind = Literal["admin", "payer"]
ADMIN: Kind = "admin"
PAYER: Kind = "payer"
# A one-session row revokes that session whatever its start: its not_before is the far future.
FOREVER = datetime(9999, 12, 31, tzinfo=UTC)
# How long a revocation outlives the sessions it can match: room for clock skew between nodes and
# for an absolute lifetime raised after the revocation was written.
KEEP_MARGIN = timedelta(days=1)
FUTURE_TOLERANCE = timedelta(seconds=60)  # a start this far ahead of our clock is another node's skew


@dataclass(frozen=True, slots=True)
class SessionRef:
    """What the store needs to know about one session: read from its signed cookie."""

    kind: Kind
    sid: str
    started_at: datetime
    biller: str | None = None  # payer sessions: their biller's sessions can be ended together

    def scopes(self) -> tuple[str, ...]:
        own = (_sid_scope(self.kind, self.sid), all_scope(self.kind))
        return (*own, biller_scope(self.biller)) if self.biller else own

    def ends_at(self, absolute_lifetime: int) -> datetime:
        return self.started_at + timedelta(seconds=absolute_lifetime)


class LivenessCache(Protocol):
    """What this module needs of bridge.store_cache.StoreCache (which imports this module)."""

    def known_live(self, ref: SessionRef) -> bool: ...

    def revocation_version(self) -> int | None: ...

    def remember_live(self, ref: SessionRef, version: int) -> bool: ...

    def invalidate_sessions(self) -> None: ...


def _sid_scope(kind: Kind, sid: str) -> str:
    return f"{kind}:sid:{sid}"


def all_scope(kind: Kind) -> str:
    return f"{kind}:all"


def biller_scope(biller: str) -> str:
    return f"payer:biller:{biller}"


def within_lifetime(ref: SessionRef, *, now: datetime, absolute_lifetime: int) -> bool:
    """Started no longer than ``absolute_lifetime`` ago (and not implausibly in the future)."""
    return ref.started_at - FUTURE_TOLERANCE <= now < ref.ends_at(absolute_lifetime)


def live_from_memory(
    ref: SessionRef, cache: LivenessCache, *, now: datetime, absolute_lifetime: int
) -> bool | None:
    """Without the store: False past its absolute lifetime, True when the cache vouches it is not revoked,
    None when only the store can say (then :func:`is_live`, off the event loop)."""
    if not within_lifetime(ref, now=now, absolute_lifetime=absolute_lifetime):
        return False
    return True if cache.known_live(ref) else None


def is_live(
    store: Store, ref: SessionRef, *, now: datetime, absolute_lifetime: int, cache: LivenessCache | None = None
) -> bool:
    """Within its absolute lifetime and not revoked. One indexed read (none when ``cache`` vouches for it);
    StoreUnavailable propagates. A live answer is remembered in ``cache`` unless a revocation raced the read."""
    if not within_lifetime(ref, now=now, absolute_lifetime=absolute_lifetime):
        return False
    if cache is not None and cache.known_live(ref):
        return True
    version = cache.revocation_version() if cache is not None else None  # before the read, never after
    revoked_before = store.sessions_revoked_before(ref.scopes())
    live = revoked_before is None or revoked_before <= to_us(ref.started_at)
    if live and cache is not None and version is not None:
        cache.remember_live(ref, version)
    return live


def revoke(store: Store, ref: SessionRef, *, absolute_lifetime: int, cache: LivenessCache | None = None) -> None:
    """End this one session everywhere (sign-out); at once in this process when given its ``cache``."""
    keep_until = ref.ends_at(absolute_lifetime) + KEEP_MARGIN
    try:
        store.revoke_sessions(_sid_scope(ref.kind, ref.sid), FOREVER, keep_until)
    finally:  # even when the store's answer was lost: the row may exist
        if cache is not None:
            cache.invalidate_sessions()


def revoke_all(
    store: Store, kind: Kind, *, now: datetime, absolute_lifetime: int, biller: str | None = None,
    cache: LivenessCache | None = None,
) -> None:
    """End every session of ``kind`` (or every payer session of ``biller``) that started before ``now``."""
    scope = biller_scope(biller) if biller is not None else all_scope(kind)
    try:
        store.revoke_sessions(scope, now, now + timedelta(seconds=absolute_lifetime) + KEEP_MARGIN)
    finally:
        if cache is not None:
            cache.invalidate_sessions()


SESSIONS_REVOKED = audit.SESSIONS_REVOKED


def sign_out_everywhere(
    store: Store, settings: Settings, *, admins: bool, payers: bool, now: datetime, actor: str,
    biller: str | None = None, cache: LivenessCache | None = None,
) -> list[str]:
    """End every admin session and/or every payer session (of one biller, with ``biller``) that started
    before ``now``, on every node; audited. Returns what was ended, for the caller to say."""
    ended: list[str] = []
    if admins:
        revoke_all(store, ADMIN, now=now, absolute_lifetime=settings.admin.absolute_lifetime, cache=cache)
        ended.append("every admin session")
    if payers:
        revoke_all(store, PAYER, now=now, absolute_lifetime=settings.session.absolute_lifetime, biller=biller,
                   cache=cache)
        ended.append(f"every payer session of {biller}" if biller else "every payer session")
    if ended:
        store.record_audit(AuditEvent(at=now, event=SESSIONS_REVOKED, outcome="ok", biller=biller, actor=actor,
                                      detail="; ".join(ended)))
    return ended
