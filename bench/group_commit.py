"""Why the SQLite store group-commits: the three ways of writing a login's rows, measured side by side.

A login writes two durable rows before its Response leaves: the replay mark
(``use_once``) and the audit row. With ``synchronous=FULL`` each commit
waits for an fsync. This standalone measurement (plain sqlite3, the same
pragmas: WAL, synchronous=FULL, ``threads`` concurrent logins) compares:

- ``separate``: two transactions per login (the store before group commit);
- ``combined``: both rows in one transaction per login;
- ``group``: every login waiting is committed in one transaction (one fsync
  for the batch); each login returns only after the commit that holds its
  rows, so nothing is acknowledged early. bridge/store/sqlite.py does this
  (``write_one``), with the writer lock's holder as the committer.

Usage: ``.venv/bin/python -m bench.group_commit [--seconds 2] [--threads 8]``
"""

from __future__ import annotations

import argparse
import queue
import sqlite3
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE single_use (namespace TEXT NOT NULL, key TEXT NOT NULL, expires_at INTEGER NOT NULL,
                         PRIMARY KEY (namespace, key));
CREATE TABLE audit (id INTEGER PRIMARY KEY, at INTEGER, event TEXT, outcome TEXT, biller TEXT, sp TEXT,
                    account TEXT, email TEXT, flow TEXT, client_ip TEXT, detail TEXT);
"""
_USE_ONCE = "INSERT INTO single_use VALUES (?, ?, ?) ON CONFLICT DO NOTHING"
_AUDIT = "INSERT INTO audit (at, event, outcome, biller, sp, account, email, flow, client_ip, detail) " \
         "VALUES (?, 'login.issued', 'ok', 'bench', 'https://sp', '101', 'pat@example.com', 'sp', '127.0.0.1', NULL)"


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    return conn


class _Separate:
    def __init__(self, path: Path, *, combined: bool) -> None:
        self.conn = _connect(path)
        self.lock = threading.Lock()  # as SqliteBackend: one writer per process
        self.combined = combined

    def login(self, key: str) -> bool:
        if self.combined:
            with self.lock:
                self.conn.execute("BEGIN IMMEDIATE")
                fresh = self.conn.execute(_USE_ONCE, ("authn-request", key, 0)).rowcount == 1
                if fresh:
                    self.conn.execute(_AUDIT, (int(time.time()),))
                self.conn.execute("COMMIT")
            return fresh
        with self.lock:
            self.conn.execute("BEGIN IMMEDIATE")
            fresh = self.conn.execute(_USE_ONCE, ("authn-request", key, 0)).rowcount == 1
            self.conn.execute("COMMIT")
        if fresh:
            with self.lock:
                self.conn.execute("BEGIN IMMEDIATE")
                self.conn.execute(_AUDIT, (int(time.time()),))
                self.conn.execute("COMMIT")
        return fresh

    def close(self) -> None:
        self.conn.close()


class _Group:
    """One writer thread; callers block until the transaction holding their rows has committed."""

    def __init__(self, path: Path) -> None:
        self.conn = _connect(path)
        self.queue: queue.Queue[tuple[str, list[Any]] | None] = queue.Queue()
        self.batches: list[int] = []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def login(self, key: str) -> bool:
        slot: list[Any] = [threading.Event(), None]
        self.queue.put((key, slot))
        slot[0].wait()
        if isinstance(slot[1], BaseException):
            raise slot[1]
        return bool(slot[1])

    def _run(self) -> None:
        while True:
            first = self.queue.get()
            if first is None:
                return
            batch = [first]
            while True:
                try:
                    item = self.queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self.queue.put(None)
                    break
                batch.append(item)
            self._commit(batch)

    def _commit(self, batch: list[tuple[str, list[Any]]]) -> None:
        results: list[Any] = []
        try:
            self.conn.execute("BEGIN IMMEDIATE")
            for key, _ in batch:
                # One failure fails the whole batch: no login is acknowledged without its rows.
                fresh = self.conn.execute(_USE_ONCE, ("authn-request", key, 0)).rowcount == 1
                if fresh:
                    self.conn.execute(_AUDIT, (int(time.time()),))
                results.append(fresh)
            self.conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if self.conn.in_transaction:
                self.conn.rollback()
            results = [exc] * len(batch)
        self.batches.append(len(batch))
        for (_, slot), result in zip(batch, results, strict=True):
            slot[1] = result
            slot[0].set()

    def close(self) -> None:
        self.queue.put(None)
        self.thread.join(timeout=5)
        self.conn.close()


def _drive(login: Callable[[str], bool], *, threads: int, seconds: float) -> float:
    done = [0] * threads
    deadline = time.perf_counter() + seconds

    def worker(n: int) -> None:
        while time.perf_counter() < deadline:
            if not login(uuid.uuid4().hex):
                raise AssertionError("a fresh key was refused")
            done[n] += 1

    started = time.perf_counter()
    pool = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return sum(done) / (time.perf_counter() - started)


def measure(*, seconds: float = 2.0, threads: int = 8) -> dict[str, Any]:
    """Durable logins per second (two rows each) under each commit strategy."""
    results: dict[str, Any] = {"threads": threads}
    with tempfile.TemporaryDirectory(prefix="bench-group-commit-") as tmp:
        for name in ("separate", "combined", "group"):
            path = Path(tmp) / f"{name}.db"
            setup = _connect(path)
            setup.executescript(_SCHEMA)
            setup.close()
            strategy: _Separate | _Group = _Group(path) if name == "group" else _Separate(
                path, combined=name == "combined")
            try:
                results[name] = round(_drive(strategy.login, threads=threads, seconds=seconds), 1)
                if isinstance(strategy, _Group) and strategy.batches:
                    results["group_mean_batch"] = round(sum(strategy.batches) / len(strategy.batches), 2)
            finally:
                strategy.close()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.group_commit", description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args(argv)
    result = measure(seconds=args.seconds, threads=args.threads)
    print(f"durable logins/s (use_once + audit row, SQLite WAL synchronous=FULL, {args.threads} threads):")
    for name in ("separate", "combined", "group"):
        print(f"  {name:<9} {result[name]:>9,.0f}")
    print(f"  group commit: {result.get('group_mean_batch')} logins per fsync on average")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
