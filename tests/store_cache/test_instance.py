"""The store cache in a running instance: built and warmed by open_instance, polled on its own cadence."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from bridge.config import settings_from_dict
from bridge.errors import ConfigError
from bridge.web.app import _refresh_store_cache

SECRETS = {"tickets": {"secrets": ["x"]}, "session": {"secrets": ["y"]}}


def test_open_instance_starts_with_a_warm_cache(bridge: Any) -> None:
    snapshot = bridge.instance.store_cache.billers()
    assert snapshot is not None and snapshot.get("demo") is not None
    assert bridge.instance.store_cache.refresh == bridge.settings.store.cache_refresh == 1.0


def test_a_biller_the_harness_adds_is_not_served_from_an_older_snapshot(bridge: Any) -> None:
    bridge.add_biller("city", "https://sp.test/metadata")
    snapshot = bridge.instance.store_cache.billers()
    assert snapshot is None or snapshot.get("city") is not None


def test_cache_refresh_is_read_from_the_store_section(tmp_path: Path) -> None:
    settings = settings_from_dict({**SECRETS, "store": {"cache_refresh": 0.25}}, base_dir=tmp_path)
    assert settings.store.cache_refresh == 0.25


@pytest.mark.parametrize("value", [0, -1, 0.01, 61, "1s"])
def test_cache_refresh_out_of_range_is_refused(value: Any, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cache_refresh"):
        settings_from_dict({**SECRETS, "store": {"cache_refresh": value}}, base_dir=tmp_path)


class _Polls:
    refresh = 0.05

    def __init__(self) -> None:
        self.count = 0

    def poll(self) -> bool:
        self.count += 1
        return True


def test_the_background_task_polls_every_refresh() -> None:
    polls = _Polls()

    async def run_for_a_while() -> None:
        task = asyncio.create_task(_refresh_store_cache(SimpleNamespace(store_cache=polls)))  # type: ignore[arg-type]
        await asyncio.sleep(0.5)
        task.cancel()

    asyncio.run(run_for_a_while())
    assert 3 <= polls.count <= 10
