"""Single-use marks in Redis (``SET key 1 NX PX ttl``), for deployments that set ``store.redis_url``.

Everything else stays in the SQL store; :class:`bridge.store.sql.SqlStore` hands
``use_once`` to this set when one is configured. Redis expires the marks itself, so
``purge_expired`` has nothing to do here.

Redis keeps time by its own clock, so the mark gets a relative TTL computed from this
node's clock, never shorter than ``MIN_TTL``: a mark whose expiry is already past (a
skewed clock, a caller's fixed test clock) still refuses a replay for that long.
A mark is only as durable as Redis: run it with ``appendonly yes`` (``appendfsync
always`` to lose nothing on a crash) and without asynchronous failover, or a mark
written just before a crash can vanish while its ticket is still valid.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import redis

from bridge.clock import utcnow
from bridge.errors import StoreUnavailable

MIN_TTL = timedelta(seconds=60)


class RedisOnceSet:
    """``<prefix><namespace>:<key>`` marks. Namespaces are code constants without ':'."""

    def __init__(self, client: redis.Redis, *, prefix: str = "bridge:once:") -> None:
        self._client = client
        self._prefix = prefix

    @classmethod
    def from_url(cls, url: str, *, timeout: float = 5.0, prefix: str = "bridge:once:") -> RedisOnceSet:
        client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        return cls(client, prefix=prefix)

    def use_once(self, namespace: str, key: str, expires_at: datetime) -> bool:
        ttl = max(expires_at - utcnow(), MIN_TTL)
        ttl_ms = math.ceil(ttl / timedelta(milliseconds=1))
        try:
            created = self._client.set(f"{self._prefix}{namespace}:{key}", b"1", nx=True, px=ttl_ms)
        except redis.RedisError as exc:
            raise StoreUnavailable(f"the Redis single-use set cannot answer ({type(exc).__name__})") from exc
        return bool(created)

    def ping(self) -> None:
        try:
            self._client.ping()
        except redis.RedisError as exc:
            raise StoreUnavailable(f"the Redis single-use set cannot answer ({type(exc).__name__})") from exc

    def close(self) -> None:
        self._client.close()
