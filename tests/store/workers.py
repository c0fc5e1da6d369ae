"""Functions run in child processes by the multi-process tests (importable, hence not in a test module)."""

from __future__ import annotations

import multiprocessing
import traceback
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

from bridge.store import AuditEvent, open_store_url

EXPIRES = datetime(2030, 1, 1, tzinfo=UTC) + timedelta(days=1)


def in_processes(target: Callable[..., None], *args: Any, count: int) -> list[Any]:
    """Run ``target(*args, start, results)`` in ``count`` spawned processes released together by one barrier;
    their reports' payloads, once every process reported ``("ok", payload)`` (else the first error fails)."""
    context = multiprocessing.get_context("spawn")  # no forking of the parent's pools and threads
    start = context.Barrier(count)
    results = context.Queue()
    children = [context.Process(target=target, args=(*args, start, results)) for _ in range(count)]
    for child in children:
        child.start()
    reports = [results.get(timeout=60) for _ in children]
    for child in children:
        child.join(timeout=10)
    errors = [detail for status, detail in reports if status != "ok"]
    assert not errors, errors[0]
    return [payload for _, payload in reports]


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
