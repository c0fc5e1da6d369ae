"""``icbridge init --store-url`` on PostgreSQL (and SQLite), and a second node with ``init --join``."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from store_backends import postgres_schema

from bridge.billers import authenticate_api_key
from bridge.cli import main
from bridge.store import open_store_url


@pytest.fixture
def pg_url() -> Iterator[str]:
    with postgres_schema() as url:
        yield url


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, list[str]]:
    code = main(list(argv))
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    return code, captured.out, captured.err.splitlines()


def _init(capsys, directory: Path, *extra: str) -> dict:  # type: ignore[no-untyped-def]
    code, out, err = _run(capsys, "init", str(directory), *extra, "--json")
    assert code == 0, err
    return json.loads(out)


def test_init_on_postgresql_sets_up_a_working_instance_there(capsys, tmp_path, pg_url) -> None:  # type: ignore[no-untyped-def]
    made = _init(capsys, tmp_path / "a", "--store-url", pg_url)
    store = open_store_url(pg_url, base_dir=tmp_path, pool_size=1)
    try:
        assert [(k.kid, k.state) for k in store.list_keys()] == [(made["kid"], "active")]
        assert [b.name for b in store.list_billers()] == ["demo"]
        assert authenticate_api_key(store, made["api_key"]).biller == "demo"
    finally:
        store.close()
    assert not (tmp_path / "a" / "bridge.db").exists()
    assert _run(capsys, "check", "--config", made["config"]) == (0, f"{made['config']}: OK\n", [])


def test_init_on_a_store_that_holds_an_instance_is_refused_and_points_to_join(capsys, tmp_path, pg_url) -> None:  # type: ignore[no-untyped-def]
    _init(capsys, tmp_path / "a", "--store-url", pg_url)
    code, out, err = _run(capsys, "init", str(tmp_path / "b"), "--store-url", pg_url)
    assert (code, out, len(err)) == (1, "", 1)
    assert "already holds an instance (1 key(s), 1 biller(s))" in err[0] and "--join" in err[0]
    assert not (tmp_path / "b" / "bridge.toml").exists()


def test_init_names_a_store_url_it_cannot_use(capsys, tmp_path) -> None:  # type: ignore[no-untyped-def]
    code, _, err = _run(capsys, "init", str(tmp_path / "a"), "--store-url", "mysql://db/bridge")
    assert (code, err) == (1, ["icbridge: error: --store-url: mysql://db/bridge must start with sqlite:/// or "
                               "postgresql://"])


def test_init_on_an_unreachable_postgresql_writes_no_instance(capsys, tmp_path) -> None:  # type: ignore[no-untyped-def]
    code, _, err = _run(capsys, "init", str(tmp_path / "a"), "--store-url",
                        "postgresql://nobody:secret@127.0.0.1:1/none?connect_timeout=2")
    assert code == 1 and len(err) == 1 and err[0].startswith("icbridge: error: ")
    assert "secret" not in err[0]
    assert not (tmp_path / "a" / "bridge.toml").exists()


def test_init_with_a_sqlite_url_relative_to_the_folder(capsys, tmp_path) -> None:  # type: ignore[no-untyped-def]
    made = _init(capsys, tmp_path / "a", "--store-url", "sqlite:///state/db.sqlite3")
    assert made["store"] == "sqlite:///state/db.sqlite3"
    assert (tmp_path / "a" / "state" / "db.sqlite3").is_file()


def _second_machine(first: Path, tmp_path: Path) -> Path:
    """What an admin copies to the second node: the first node's folder (bridge.toml, certs/, metadata/)."""
    copy = tmp_path / "copied-from-a"
    shutil.copytree(first, copy)
    return copy / "bridge.toml"


def test_a_second_node_joins_and_sees_the_same_keys(capsys, tmp_path, pg_url) -> None:  # type: ignore[no-untyped-def]
    made = _init(capsys, tmp_path / "a", "--store-url", pg_url)
    code, out, err = _run(capsys, "init", str(tmp_path / "b"), "--join", str(_second_machine(tmp_path / "a",
                                                                                               tmp_path)), "--json")
    assert code == 0, err
    joined = json.loads(out)
    assert (joined["active_kid"], joined["published_kids"], joined["billers"]) == (made["kid"], [made["kid"]], 1)
    node = tmp_path / "b"
    assert (node / "bridge.toml").stat().st_mode & 0o777 == 0o600
    assert (node / "certs").stat().st_mode & 0o777 == 0o700
    assert (node / "certs" / f"{made['kid']}.key").stat().st_mode & 0o777 == 0o600
    assert _run(capsys, "keys", "list", "--config", str(node / "bridge.toml"), "--json")[0] == 0
    assert _run(capsys, "check", "--config", str(node / "bridge.toml"))[0] == 0


def test_joining_without_the_key_files_says_which_file_is_missing(capsys, tmp_path, pg_url) -> None:  # type: ignore[no-untyped-def]
    made = _init(capsys, tmp_path / "a", "--store-url", pg_url)
    source = _second_machine(tmp_path / "a", tmp_path)
    (source.parent / "certs" / f"{made['kid']}.key").unlink()
    code, _, err = _run(capsys, "init", str(tmp_path / "b"), "--join", str(source))
    assert code == 1 and len(err) == 1
    assert err[0].endswith(f"certs/{made['kid']}.key: private key file not found")


def test_joining_an_instance_on_sqlite_is_refused(capsys, tmp_path) -> None:  # type: ignore[no-untyped-def]
    made = _init(capsys, tmp_path / "a")
    code, _, err = _run(capsys, "init", str(tmp_path / "b"), "--join", made["config"])
    assert code == 1 and "which only one machine may use" in err[0]
    assert not (tmp_path / "b").exists()


def test_join_takes_no_store_or_base_url_of_its_own(capsys, tmp_path) -> None:  # type: ignore[no-untyped-def]
    code, _, err = _run(capsys, "init", str(tmp_path / "b"), "--join", str(tmp_path / "a"), "--base-url",
                        "https://x.example")
    assert (code, err) == (1, ["icbridge: error: --base-url: not with --join: a joining node takes everything "
                               "from the instance's bridge.toml"])
