"""Store-cache fixtures: a migrated store of each backend, and a second store on the same database (another
process or node: its own connections), with a clock the test moves by hand."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from store_backends import BACKENDS, store_url

from bridge.store import SqlStore, open_store_url
from bridge.store_cache import StoreCache

REFRESH = 1.0


class Monotonic:
    """A monotonic clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(params=BACKENDS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with store_url(request.param, tmp_path) as opened:
        yield opened


@pytest.fixture
def store(url: str, tmp_path: Path) -> Iterator[SqlStore]:
    opened = open_store_url(url, base_dir=tmp_path, pool_size=2)
    try:
        opened.migrate()
        yield opened
    finally:
        opened.close()


@pytest.fixture
def other(url: str, tmp_path: Path, store: SqlStore) -> Iterator[SqlStore]:
    """Another process's store on the same database (migrated by ``store``)."""
    opened = open_store_url(url, base_dir=tmp_path, pool_size=2)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def ticks() -> Monotonic:
    return Monotonic()


@pytest.fixture
def cache(store: SqlStore, ticks: Monotonic) -> StoreCache:
    return StoreCache(store, refresh=REFRESH, monotonic=ticks)
