"""Fixtures for the store tests: every test runs once per backend (see tests/store_backends.py)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from store_backends import BACKENDS, ONCE_BACKENDS, make_store

from bridge.store import SqlStore

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlStore]:
    with make_store(request.param, tmp_path) as opened:
        yield opened


@pytest.fixture(params=ONCE_BACKENDS)
def once_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlStore]:
    """Like ``store``, plus the variant whose single-use marks live in Redis."""
    with make_store(request.param, tmp_path) as opened:
        yield opened


@pytest.fixture
def now() -> datetime:
    return NOW
