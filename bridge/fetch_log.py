"""The metadata-fetch log (the rollover guard's evidence), written in batches.

Recording each GET synchronously would put a database write on a path that
must serve thousands of requests a second; fetches are buffered in memory
and flushed by the background loop every second. A lost batch (crash, store
down) only weakens a warning, never a login, so this is best effort.
"""

from __future__ import annotations

import logging
import threading

from bridge.errors import StoreUnavailable
from bridge.store.base import MetadataFetch, Store

log = logging.getLogger(__name__)
MAX_BUFFER = 10_000


class FetchLog:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._buffer: list[MetadataFetch] = []

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
