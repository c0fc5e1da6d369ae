"""Opening a store from its URL."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.config import settings_from_dict
from bridge.errors import ConfigError
from bridge.store import open_store, open_store_url
from bridge.store.sqlite import SqliteBackend, sqlite_path


def test_relative_sqlite_path_is_under_base_dir(tmp_path: Path) -> None:
    assert sqlite_path("sqlite:///data/bridge.db", base_dir=tmp_path) == tmp_path / "data" / "bridge.db"


def test_absolute_sqlite_path_is_kept(tmp_path: Path) -> None:
    assert sqlite_path("sqlite:////var/lib/bridge.db", base_dir=tmp_path) == Path("/var/lib/bridge.db")


@pytest.mark.parametrize("url", ["sqlite:///", "sqlite:///:memory:", "sqlite:///x.db?mode=ro"])
def test_sqlite_url_must_name_a_file(url: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="database file"):
        sqlite_path(url, base_dir=tmp_path)


def test_unknown_scheme_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"store\.url"):
        open_store_url("mysql://localhost/db", base_dir=tmp_path)


def test_open_store_uses_the_settings(tmp_path: Path) -> None:
    raw = {"tickets": {"secrets": ["x"]}, "session": {"secrets": ["y"]}, "store": {"url": "sqlite:///b.db"}}
    store = open_store(settings_from_dict(raw, base_dir=tmp_path))
    try:
        store.migrate()
        assert isinstance(store._backend, SqliteBackend)
        assert (tmp_path / "b.db").exists()
    finally:
        store.close()


def test_sqlite_runs_wal_with_full_sync(tmp_path: Path) -> None:
    store = open_store_url("sqlite:///b.db", base_dir=tmp_path)
    try:
        with store._backend.read() as cur:
            cur.execute("PRAGMA journal_mode")
            mode = cur.fetchone()[0]
            cur.execute("PRAGMA synchronous")
            sync = cur.fetchone()[0]
            cur.execute("PRAGMA foreign_keys")
            fks = cur.fetchone()[0]
        assert (mode, sync, fks) == ("wal", 2, 1)  # 2 = FULL
    finally:
        store.close()
