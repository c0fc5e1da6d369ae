"""Functions run in child processes by the multi-process tests (importable, hence not in a test module)."""

from __future__ import annotations

import traceback
from datetime import UTC, datetime, timedelta
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

from bridge.store import AuditEvent, open_store_url

EXPIRES = datetime(2030, 1, 1, tzinfo=UTC) + timedelta(days=1)


def hammer_use_once(url: str, base_dir: str, keys: int, start: Barrier, results: Queue[Any]) -> None:
    """Mark ``keys`` keys as a login would (use_once, then an audit row); report which were ours."""
    try:
        store = open_store_url(url, base_dir=Path(base_dir), pool_size=2)
        try:
            store.ping()  # connect before the start line, so the race is on the writes
            start.wait()
            won = []
            for i in range(keys):
                if store.use_once("ticket", f"k{i}", EXPIRES):
                    won.append(i)
                store.record_audit(AuditEvent(EXPIRES, "ticket.consumed", "ok", detail=f"k{i}"))
            results.put(("ok", won))
        finally:
            store.close()
    except BaseException:
        results.put(("error", traceback.format_exc()))


def migrate(url: str, base_dir: str, start: Barrier, results: Queue[Any]) -> None:
    try:
        store = open_store_url(url, base_dir=Path(base_dir), pool_size=1)
        try:
            start.wait()
            store.migrate()
            results.put(("ok", store.schema_status().current))
        finally:
            store.close()
    except BaseException:
        results.put(("error", traceback.format_exc()))
