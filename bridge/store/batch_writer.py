"""The login's durable commit, for callers on an event loop: batched, and without a thread hand-off per login.

An SP-initiated login runs on the event loop (bridge/web/saml_routes.py) except for the commit
of its replay mark and audit row, which must be on disk before the page leaves. Handing each
commit to a thread pool cost more than the commit: every hand-off woke a worker, passed the GIL
back and forth with the loop (the sqlite3 module releases it around every statement, and taking
it back from a busy loop is a futex wait and a context switch each time) and woke the loop again
(issue 21's profile: a third of a login's CPU). So the logins that reach their commit in one turn
of the loop are committed together by :meth:`Store.use_once_many` (two statements and one COMMIT,
so one fsync, for the whole batch; ``synchronous=FULL`` untouched):

* on the loop itself when the store can do it without waiting (``use_once_many_now``: a local
  SQLite file whose write lock is free; the loop waits for the fsync, about 0.2 ms per batch), unless
  a recent commit showed the disk to be slow (then the writer thread takes them for a while);
* else by one writer thread (PostgreSQL, Redis marks, or SQLite's lock held by another writer),
  which takes everything queued and wakes each loop once per batch.

Nothing is acknowledged before its transaction committed; if it fails, every caller in it gets
StoreUnavailable and none of their rows exists (the store's all-or-nothing contract).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from bridge.errors import StoreUnavailable
from bridge.steps import StepTimer
from bridge.store.base import OnceItem, Store

log = logging.getLogger(__name__)
SLOW_COMMIT = 0.02  # seconds a commit may hold the event loop before commits move to the writer thread
OFF_LOOP_FOR = 10.0  # seconds they stay there before the loop tries again
SHUTTING_DOWN = "the bridge is shutting down: the sign-in was not recorded"
MAX_BATCH = 256  # items per transaction: bounded statement size (SQLite host parameters)


@dataclass(slots=True)
class _Pending:
    item: OnceItem
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[bool]


class BatchWriter:
    """One per process (``Instance.writer``); the thread starts with the first commit."""

    def __init__(
        self, store: Store, *, steps: StepTimer | None = None, monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._steps = steps or StepTimer()
        self._monotonic = monotonic
        self._off_loop_until = -math.inf
        self._queue: queue.SimpleQueue[_Pending | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._on_loop: dict[asyncio.AbstractEventLoop, list[_Pending]] = {}  # queued in this turn of each loop

    async def use_once(self, item: OnceItem) -> bool:
        """Store.use_once(item), committed with the other logins that reach this point in the same turn of
        the event loop: on the loop itself when the store can commit without waiting (a local SQLite file
        whose write lock is free), else by the writer thread."""
        if self._closed:
            raise StoreUnavailable(SHUTTING_DOWN)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bool] = loop.create_future()
        waiting = self._on_loop.setdefault(loop, [])
        if not waiting:
            loop.call_soon(self._flush_on_loop, loop)  # after the handlers already runnable in this turn
        waiting.append(_Pending(item, loop, future))
        return await future

    def _flush_on_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        batch = self._on_loop.pop(loop, [])
        if not batch:
            return
        started = self._steps.start()
        try:
            outcome = self._commit_on_loop(batch)
            if outcome is None:  # it would wait: the writer thread takes it
                self._start()
                for pending in batch:
                    self._queue.put(pending)
            else:
                _settle(list(zip(batch, outcome, strict=True)), None)
        except Exception as exc:  # a callback must settle every caller, whatever failed (fail closed)
            if not isinstance(exc, StoreUnavailable):
                log.exception("the login commit on the event loop failed")
            _settle([(p, None) for p in batch], exc)
        self._steps.lap("sso.commit_on_loop", started)

    def _commit_on_loop(self, batch: list[_Pending]) -> list[bool] | None:
        """The batch committed here, or None for the writer thread: also while the disk is slow.

        A commit that held the loop longer than ``SLOW_COMMIT`` (an fsync stalled by a busy disk) sends
        every commit to the writer thread for ``OFF_LOOP_FOR``: logins then wait for the disk, the
        event loop (health checks, metadata, other pages) does not.
        """
        if self._monotonic() < self._off_loop_until:
            return None
        began = self._monotonic()
        outcome = self._store.use_once_many_now([p.item for p in batch])
        took = self._monotonic() - began
        if took > SLOW_COMMIT:
            self._off_loop_until = began + took + OFF_LOOP_FOR
            log.warning("a login commit held the event loop for %.0f ms (slow disk): commits go to the writer "
                        "thread for the next %.0f s", took * 1000, OFF_LOOP_FOR)
        return outcome

    def close(self) -> None:
        """Commit what is queued, then stop the thread (app shutdown)."""
        with self._lock:
            self._closed = True
            thread = self._thread
        if thread is not None:
            self._queue.put(None)
            thread.join(timeout=10)

    def _start(self) -> None:
        if self._thread is not None:
            return
        with self._lock:
            if self._closed:
                raise StoreUnavailable(SHUTTING_DOWN)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="bridge-writer", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            batch: list[_Pending] = []
            if first is None:
                stopping = True
            else:
                batch.append(first)
            while len(batch) < MAX_BATCH:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stopping = True
                else:
                    batch.append(more)
            if batch:
                self._commit(batch)

    def _commit(self, batch: list[_Pending]) -> None:
        started = self._steps.start()
        try:
            outcome: list[bool] | BaseException = self._store.use_once_many([p.item for p in batch])
        except StoreUnavailable as exc:
            outcome = exc
        except Exception as exc:  # a bug must not kill the writer: every caller in the batch fails closed
            log.exception("the login writer's commit failed")
            outcome = StoreUnavailable(f"the store cannot answer: {exc!r}")
        # One wake-up per loop per batch, not one per login.
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[_Pending, bool | None]]] = {}
        for index, pending in enumerate(batch):
            result = None if isinstance(outcome, BaseException) else outcome[index]
            by_loop.setdefault(pending.loop, []).append((pending, result))
        error = outcome if isinstance(outcome, BaseException) else None
        for loop, settled in by_loop.items():
            with contextlib.suppress(RuntimeError):  # a closed loop: its callers are gone
                loop.call_soon_threadsafe(_settle, settled, error)
        self._steps.lap("sso.commit_writer_thread", started)


def _settle(settled: list[tuple[_Pending, bool | None]], error: BaseException | None) -> None:
    for pending, result in settled:
        if pending.future.done():  # the caller was cancelled (client gone); its rows are committed anyway
            continue
        if error is not None:
            failure = StoreUnavailable(getattr(error, "detail", str(error)))
            failure.__cause__ = error
            pending.future.set_exception(failure)
        else:
            pending.future.set_result(bool(result))
