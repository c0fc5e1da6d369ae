"""Rate limits (partner API, SSO, admin sign-in, simulator): fixed one-minute windows counted in the store.

The counters live in the store (``Store.hit``), not only in process memory, so a
limit holds across every node and worker of a deployment. A window is the
current UTC minute; the counter row expires one window after it ends (the
housekeeping loop purges it). Over the limit, :class:`RateLimited` answers
429 with ``Retry-After`` set to the seconds left in the window.

Each process keeps a small front (:class:`RateLimiter`) that adds its hits to
the store in batches rather than one durable write per request: a store write
costs a commit (an fsync on SQLite), and on the SSO path that was a third of a
login's time. A batch goes to the store when

- the bucket is new in this window (so a known-busy bucket is seen at once),
- the local hits reach 1/8 of the room left under the limit (near the limit
  every hit is written, so small limits are exact), or
- ``sync_every`` seconds passed since the bucket's last write.

A hit is admitted locally only while (the store's count at the last write)
+ (this process's unwritten hits) stays under the limit. Across N processes a
window may admit at most N * (room / 8) more than the limit, for at most
``sync_every``; counters are not audit data, so a crash loses only unwritten hits.

Buckets (one place names them, so nodes agree):

- ``api-ip:<ip>``: every partner API call from one client address, counted
  before the key is checked (so guessing keys costs one hit per guess);
- ``api-key:<key id>``: calls authenticated with one API key, counted after
  the key is verified (so nobody can exhaust another partner's budget by
  sending junk with its key id);
- ``sso-ip:<ip>``: AuthnRequests from one browser address;
- ``admin-login:<ip>``, ``simulator-ip:<ip>``: admin sign-in attempts, simulator sign-ins.

A limit of 0 or less turns that limit off. The client address is the TCP
peer: behind a reverse proxy every request shares the proxy's address, so
set the limits for that (SECURITY.md).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from bridge.clock import Clock
from bridge.errors import RateLimited
from bridge.store.base import Store

WINDOW_SECONDS = 60
SYNC_EVERY = 1.0  # seconds between a busy bucket's batched writes
ROOM_SHARE = 8  # write once local hits reach 1/ROOM_SHARE of the room left under the limit


def window_of(now: datetime, window: int = WINDOW_SECONDS) -> tuple[datetime, datetime]:
    """(start, end) of the fixed window holding ``now``."""
    start = datetime.fromtimestamp(math.floor(now.timestamp() / window) * window, tz=now.tzinfo)
    return start, start + timedelta(seconds=window)


@dataclass(slots=True)
class _Bucket:
    start: datetime
    stored: int = 0  # the store's count at the last write (every node's hits)
    unwritten: int = 0  # this process's hits not yet in the store
    written_at: float = -math.inf


@dataclass(frozen=True, slots=True)
class DueWrite:
    """Hits counted in memory that must reach the store before the request that made them is admitted."""

    bucket: str
    state: _Bucket
    count: int
    limit: int
    now: datetime
    end: datetime
    what: str


class RateLimiter:
    """One per process (``Instance.limiter``); thread-safe."""

    def __init__(
        self, store: Store, clock: Clock, *, sync_every: float = SYNC_EVERY,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._clock = clock
        self._sync_every = sync_every
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._buckets: dict[str, _Bucket] = {}

    def __len__(self) -> int:
        """How many buckets this process tracks (flush forgets past windows)."""
        return len(self._buckets)

    def enforce(self, bucket: str, limit: int, *, what: str) -> None:
        """Count one hit in ``bucket``; raise RateLimited once the window holds more than ``limit``."""
        due = self.count(bucket, limit, what=what)
        if due is not None:
            self.settle(due)

    def count(self, bucket: str, limit: int, *, what: str) -> DueWrite | None:
        """Count one hit in memory (no I/O, so the event loop may call it); RateLimited when already over.

        Returns the store write that is due now (see the module docstring), which the caller must
        :meth:`settle` (blocking: off the event loop) before admitting the request, or None.
        """
        if limit <= 0:
            return None
        now = self._clock()
        start, end = window_of(now)
        with self._lock:
            state = self._buckets.get(bucket)
            if state is None or state.start != start:
                state = self._buckets[bucket] = _Bucket(start)
            if state.stored > limit:
                _refuse(now, end, what)
            state.unwritten += 1
            room = limit - state.stored
            if state.unwritten * ROOM_SHARE < room and self._monotonic() - state.written_at < self._sync_every:
                return None  # stored + unwritten < limit: admitted without a write
            count, state.unwritten = state.unwritten, 0
        return DueWrite(bucket, state, count, limit, now, end, what)

    def settle(self, due: DueWrite) -> None:
        """Write a due batch of hits; RateLimited when every node's hits together passed the limit."""
        if self._write(due.bucket, due.state, due.count) > due.limit:
            _refuse(due.now, due.end, due.what)

    def flush(self) -> None:
        """Write every unwritten hit and forget past windows (the housekeeping loop calls this)."""
        current, _end = window_of(self._clock())
        with self._lock:
            due = [(name, state, state.unwritten) for name, state in self._buckets.items() if state.unwritten]
            for _name, state, _count in due:
                state.unwritten = 0
            self._buckets = {name: state for name, state in self._buckets.items() if state.start >= current}
        for name, state, count in due:
            self._write(name, state, count)

    def _write(self, bucket: str, state: _Bucket, count: int) -> int:
        stored = self._store.hit(bucket, state.start, state.start + timedelta(seconds=2 * WINDOW_SECONDS), count)
        with self._lock:
            state.stored = max(state.stored, stored)
            state.written_at = self._monotonic()
        return stored

    # The buckets, named in one place.

    def limit_api_client(self, ip: str | None, limit: int) -> None:
        self.enforce(f"api-ip:{ip or 'unknown'}", limit, what="API requests from this address")

    def limit_api_key(self, key_id: str, limit: int) -> None:
        self.enforce(f"api-key:{key_id}", limit, what="API requests with this key")

    def count_sso_client(self, ip: str | None, limit: int) -> DueWrite | None:
        """The SSO limit counted on the event loop (:meth:`count`); the login settles a due write off it."""
        return self.count(f"sso-ip:{ip or 'unknown'}", limit, what="sign-in requests from this address")

    def limit_admin_login(self, ip: str | None, limit: int) -> None:
        self.enforce(f"admin-login:{ip or 'unknown'}", limit, what="admin sign-in attempts")

    def limit_simulator(self, ip: str | None, limit: int) -> None:
        self.enforce(f"simulator-ip:{ip or 'unknown'}", limit, what="simulator sign-ins from this address")


def _refuse(now: datetime, end: datetime, what: str) -> None:
    retry_after = max(1, math.ceil((end - now).total_seconds()))
    raise RateLimited(f"too many {what}; try again in {retry_after} seconds", retry_after=retry_after)
