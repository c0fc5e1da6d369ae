"""The metadata-fetch log (the rollover guard's evidence).

What the guard needs is, per client, whether and when it fetched metadata listing a key. So the
first fetch of a (client address, user agent, key set) is written at once, before the response
leaves: an admin who runs ``icbridge keys activate`` right after IC re-saved the metadata URL sees
that fetch, on any node. Repeats of the same client and key set within ``REPEAT_WINDOW`` only
move its "last fetch" time forward, so they are buffered and written by the background loop
(every few seconds): a client polling the metadata, or anyone hammering it, costs no write per
request. Immediate writes are also capped per second for the same reason. A lost buffered
record (crash, store down) only weakens a warning, never a login, so this is best effort.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime

from bridge.errors import StoreUnavailable
from bridge.store.base import MetadataFetch, Store

log = logging.getLogger(__name__)
MAX_BUFFER = 10_000
MAX_SEEN = 10_000  # clients remembered for the repeat window; beyond that, fetches are buffered
REPEAT_WINDOW = 60.0  # seconds in which a repeat of a (client, key set) is not news
IMMEDIATE_PER_SECOND = 20

_Client = tuple[str | None, str | None, tuple[str, ...]]


class FetchLog:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._buffer: list[MetadataFetch] = []
        self._seen: dict[_Client, datetime] = {}
        self._second: tuple[int, int] = (0, 0)  # (epoch second, immediate writes in it)

    def is_news(self, fetch: MetadataFetch) -> bool:
        """True (and remembered) when this client has not fetched this key set within REPEAT_WINDOW and the
        per-second budget allows a write now; the caller then ``write``s it, else ``add``s it."""
        client = (fetch.client_ip, fetch.user_agent, tuple(fetch.kids))
        with self._lock:
            last = self._seen.get(client)
            if last is not None and (fetch.at - last).total_seconds() < REPEAT_WINDOW:
                return False
            second = int(fetch.at.timestamp())
            used = self._second[1] if self._second[0] == second else 0
            if used >= IMMEDIATE_PER_SECOND:
                return False
            if len(self._seen) >= MAX_SEEN:
                self._forget_before(fetch.at)
                if len(self._seen) >= MAX_SEEN:
                    return False
            self._second = (second, used + 1)
            self._seen[client] = fetch.at
            return True

    def _forget_before(self, now: datetime) -> None:
        self._seen = {c: at for c, at in self._seen.items() if (now - at).total_seconds() < REPEAT_WINDOW}

    def write(self, fetch: MetadataFetch) -> None:
        """Record ``fetch`` now; if the store does not answer, leave it to the background flush."""
        try:
            self._store.record_metadata_fetch(fetch)
        except StoreUnavailable:
            self.add(fetch)

    def add(self, fetch: MetadataFetch) -> None:
        with self._lock:
            if len(self._buffer) < MAX_BUFFER:
                self._buffer.append(fetch)

    def flush(self) -> int:
        with self._lock:
            batch, self._buffer = self._buffer, []
        written = 0
        try:
            for fetch in batch:
                self._store.record_metadata_fetch(fetch)
                written += 1
        except StoreUnavailable:
            log.warning("metadata fetch log: store unavailable, %d fetch records dropped", len(batch) - written)
        return written
