"""Per-step CPU timers for the benchmark: where one login's server CPU goes, step by step.

Off unless the process starts with ``BRIDGE_BENCH_STEPS=1`` (a bench-only switch, never set in
production): then every :meth:`StepTimer.lap` adds the calling thread's CPU time (user + system,
``CLOCK_THREAD_CPUTIME_ID``) since the previous lap to that step's total, and ``GET /bench/steps``
serves the totals. Laps are taken on the thread doing the work, so the steps of one login add up
to the CPU it cost that thread; ``bench.run`` puts their sum next to the process total from
``/proc`` and reports the difference (HTTP parsing, the event loop, other threads, the kernel's
share outside any step) as the rest. Off, a lap is one attribute test and costs nothing measurable.
"""

from __future__ import annotations

import os
import threading
import time

ENV_SWITCH = "BRIDGE_BENCH_STEPS"


class StepTimer:
    def __init__(self, enabled: bool = False) -> None:
        self.enabled = enabled
        self._lock = threading.Lock()
        self._ns: dict[str, int] = {}
        self._count: dict[str, int] = {}

    @classmethod
    def from_env(cls) -> StepTimer:
        return cls(os.environ.get(ENV_SWITCH) == "1")

    def start(self) -> int:
        """The calling thread's CPU clock now (0 when off): the first lap's ``since``."""
        return time.thread_time_ns() if self.enabled else 0

    def lap(self, name: str, since: int) -> int:
        """Charge this thread's CPU since ``since`` to ``name``; returns the new ``since``."""
        if not self.enabled:
            return 0
        now = time.thread_time_ns()
        with self._lock:
            self._ns[name] = self._ns.get(name, 0) + (now - since)
            self._count[name] = self._count.get(name, 0) + 1
        return now

    def totals(self) -> dict[str, dict[str, int]]:
        with self._lock:
            return {name: {"ns": ns, "count": self._count[name]} for name, ns in self._ns.items()}
