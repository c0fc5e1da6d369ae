"""Logging setup: one JSON object per line (or plain text), level from the configuration.

Lean on purpose (issue 21: a login's log line is part of its CPU): the record skips what no line shows
(thread, process and multiprocessing names, see :func:`configure_logging`), the hot lines skip the caller
lookup (:func:`emit`), and the formatter stamps the time from a per-second cache and looks for ``extra``
fields only when a record has any.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

_STANDARD = frozenset(vars(logging.makeLogRecord({})))
_ENCODER = json.JSONEncoder(default=str)  # what json.dumps(entry, default=str) builds on every call


class JsonFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__()
        self._second = -1
        self._stamp = ""

    def _ts(self, created: float) -> str:
        """``datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")``, the same text, cheaper:
        the date and time to the second are formatted once per second (microseconds rounded as datetime does)."""
        second = int(created)
        micros = round((created - second) * 1e6)
        if micros >= 1_000_000:
            second += 1
            micros -= 1_000_000
        if second != self._second:  # a race between threads only formats the same second twice
            self._stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second = second
        return f"{self._stamp}.{micros // 1000:03d}+00:00"

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": self._ts(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields = record.__dict__
        extra = fields.keys() - _STANDARD  # the ``extra`` fields: a set difference in C, no scan in Python
        if len(extra) == 1:
            (name,) = extra
            if not name.startswith("_"):
                entry[name] = fields[name]
        elif extra:  # several: in the order they were given
            entry.update({k: v for k, v in fields.items() if k in extra and not k.startswith("_")})
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return _ENCODER.encode(entry)


def emit(logger: logging.Logger, level: int, msg: str, *args: Any, extra: dict[str, Any] | None = None) -> None:
    """``logger.log(level, msg, *args, extra=extra)`` without the caller lookup (a walk up the stack for a
    file name and line number that no line shows), through the logging module's public record API. For the
    lines written on every request; the caller checks ``logger.isEnabledFor(level)`` first."""
    logger.handle(logger.makeRecord(logger.name, level, __file__, 0, msg, args, None, extra=extra))


def configure_logging(level: str, fmt: str = "json") -> None:
    # No line shows the thread, process or multiprocessing name: each costs a lookup per record.
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    handler = logging.StreamHandler()
    text = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    handler.setFormatter(JsonFormatter() if fmt == "json" else text)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
