"""Rate limits for the partner API and the SSO endpoint: fixed one-minute windows counted in the store.

The counters live in the store (``Store.hit``), not in process memory, so a
limit holds across every node and worker of a deployment. A window is the
current UTC minute; the counter row expires one window after it ends (the
housekeeping loop purges it). Over the limit, :class:`RateLimited` answers
429 with ``Retry-After`` set to the seconds left in the window.

Buckets:

- ``api-ip:<ip>``: every partner API call from one client address, counted
  before the key is checked (so guessing keys costs one hit per guess);
- ``api-key:<key id>``: calls authenticated with one API key, counted after
  the key is verified (so nobody can exhaust another partner's budget by
  sending junk with its key id);
- ``sso-ip:<ip>``: AuthnRequests from one browser address.

A limit of 0 or less turns that limit off. The client address is the TCP
peer: behind a reverse proxy every request shares the proxy's address, so
set the limits for that (SECURITY.md).
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from bridge.clock import Clock
from bridge.errors import RateLimited
from bridge.store.base import Store

WINDOW_SECONDS = 60


def window_of(now: datetime, window: int = WINDOW_SECONDS) -> tuple[datetime, datetime]:
    """(start, end) of the fixed window holding ``now``."""
    start = datetime.fromtimestamp(math.floor(now.timestamp() / window) * window, tz=now.tzinfo)
    return start, start + timedelta(seconds=window)


def enforce(store: Store, clock: Clock, bucket: str, limit: int, *, what: str) -> None:
    """Count one hit in ``bucket``; raise RateLimited once the window holds more than ``limit``."""
    if limit <= 0:
        return
    now = clock()
    start, end = window_of(now)
    count = store.hit(bucket, start, end + timedelta(seconds=WINDOW_SECONDS))
    if count > limit:
        retry_after = max(1, math.ceil((end - now).total_seconds()))
        raise RateLimited(f"too many {what}; try again in {retry_after} seconds", retry_after=retry_after)


def limit_api_client(store: Store, clock: Clock, ip: str | None, limit: int) -> None:
    enforce(store, clock, f"api-ip:{ip or 'unknown'}", limit, what="API requests from this address")


def limit_api_key(store: Store, clock: Clock, key_id: str, limit: int) -> None:
    enforce(store, clock, f"api-key:{key_id}", limit, what="API requests with this key")


def limit_sso_client(store: Store, clock: Clock, ip: str | None, limit: int) -> None:
    enforce(store, clock, f"sso-ip:{ip or 'unknown'}", limit, what="sign-in requests from this address")
