"""Migrations: versioned, idempotent, safe when several processes start at once."""

from __future__ import annotations

from pathlib import Path

import pytest
from store_backends import make_store, store_url

from bridge.store import SqlStore
from bridge.store.schema import migrations, split_statements

from . import workers


def test_every_migration_exists_for_both_dialects() -> None:
    assert [m.version for m in migrations("sqlite")] == [m.version for m in migrations("postgres")]
    assert migrations("sqlite")[0].name == "0001_initial"


def test_a_fresh_store_reports_every_migration_pending(tmp_path: Path) -> None:
    with make_store("sqlite", tmp_path, migrate=False) as store:
        status = store.schema_status()
    assert (status.current, status.pending) == (0, tuple(m.name for m in migrations("sqlite")))


def test_migrate_twice_changes_nothing(store: SqlStore) -> None:
    before = store.schema_status()
    store.migrate()
    after = store.schema_status()
    assert before == after
    assert after.current == after.latest and after.pending == ()


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_migrate_from_3_processes_at_once(kind: str, tmp_path: Path) -> None:
    with store_url(kind, tmp_path) as url:
        versions = workers.in_processes(workers.migrate, url, str(tmp_path), count=3)
    assert set(versions) == {migrations("sqlite")[-1].version}


def test_statement_splitter_drops_comments_and_keeps_statements() -> None:
    text = "-- a comment; with a semicolon;\nCREATE TABLE a (x TEXT);\n\nCREATE INDEX i ON a (x);\n"
    assert split_statements(text) == ("CREATE TABLE a (x TEXT)", "CREATE INDEX i ON a (x)")
