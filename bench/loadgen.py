"""A small closed-loop HTTP/1.1 load generator, run in its own process so it does not share the server's core.

Each of ``concurrency`` keep-alive connections sends one request, reads the
whole answer, checks it, and sends the next, until the requests run out or
the time is up. Raw asyncio streams rather than an HTTP library: the client's
own cost per request (~30 µs) must stay small next to the server's, because on
a 2-core machine both compete for the same CPUs.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field


@dataclass
class LoadResult:
    concurrency: int
    completed: int = 0
    failed: int = 0
    elapsed: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    first_failure: str | None = None

    @property
    def rate(self) -> float:
        return self.completed / self.elapsed if self.elapsed > 0 else 0.0

    def percentile(self, p: float) -> float | None:
        if not self.latencies_ms:
            return None
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]

    def summary(self) -> dict[str, object]:
        return {
            "concurrency": self.concurrency,
            "completed": self.completed,
            "failed": self.failed,
            "seconds": round(self.elapsed, 3),
            "per_second": round(self.rate, 1),
            "p50_ms": _round(self.percentile(50)),
            "p95_ms": _round(self.percentile(95)),
            "p99_ms": _round(self.percentile(99)),
            "first_failure": self.first_failure,
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    body = await reader.readexactly(length) if length else b""
    return status, body


async def _connection(
    host: str, port: int, requests: list[bytes], expect: bytes, deadline: float, result: LoadResult
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while requests and time.perf_counter() < deadline:
            request = requests.pop()
            started = time.perf_counter()
            writer.write(request)
            status, body = await _read_response(reader)
            if status == 200 and expect in body:
                result.completed += 1
                result.latencies_ms.append((time.perf_counter() - started) * 1000)
            else:
                result.failed += 1
                if result.first_failure is None:
                    result.first_failure = f"HTTP {status}: {body[:200]!r}"
    finally:
        writer.close()


def raw_get(host: str, port: int, target: str, cookie: str | None = None) -> bytes:
    """One HTTP/1.1 GET request as bytes, ready to send on a keep-alive connection."""
    lines = [f"GET {target} HTTP/1.1", f"Host: {host}:{port}", "User-Agent: bridge-bench"]
    if cookie:
        lines.append(f"Cookie: {cookie}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def _run(
    host: str, port: int, requests: list[bytes], concurrency: int, seconds: float, expect: bytes
) -> LoadResult:
    result = LoadResult(concurrency=concurrency)
    pending = list(reversed(requests))  # pop() from the end takes them in order
    started = time.perf_counter()
    deadline = started + seconds
    await asyncio.gather(
        *(_connection(host, port, pending, expect, deadline, result) for _ in range(concurrency))
    )
    result.elapsed = time.perf_counter() - started
    return result


def run_load(
    host: str, port: int, requests: list[bytes], *, concurrency: int, seconds: float, expect: bytes = b""
) -> dict[str, object]:
    """Send ``requests`` (each used once) over ``concurrency`` connections for at most ``seconds``."""
    return asyncio.run(_run(host, port, requests, concurrency, seconds, expect)).summary()
