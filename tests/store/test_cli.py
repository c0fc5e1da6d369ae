"""``icbridge db`` and ``icbridge audit`` against a real instance configuration."""

from __future__ import annotations

import csv
import io
import json
import stat
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from store_backends import BACKENDS, store_url

from bridge.cli import main
from bridge.cli.audit import parse_since
from bridge.clock import utcnow
from bridge.store import AuditEvent, open_store_url
from bridge.store.schema import migrations

LATEST = migrations("sqlite")[-1]


@pytest.fixture(params=BACKENDS)
def config(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Path]:
    """A bridge.toml whose store is fresh and not yet migrated."""
    with store_url(request.param, tmp_path) as url:
        path = tmp_path / "bridge.toml"
        path.write_text(f'[tickets]\nsecrets = ["x"]\n[session]\nsecrets = ["y"]\n[store]\nurl = "{url}"\n')
        yield path


@pytest.fixture
def audited(config: Path) -> Path:
    """The instance, migrated, with four events: two billers, one of them two hours old."""
    url = config.read_text().split('url = "')[1].rstrip('"\n')
    store = open_store_url(url, base_dir=config.parent)
    now = utcnow()
    try:
        store.migrate()
        store.record_audit(AuditEvent(now - timedelta(hours=2), "login.issued", "ok", biller="demo", account="old"))
        store.record_audit(AuditEvent(now - timedelta(minutes=3), "login.issued", "ok", biller="demo", account="A1"))
        store.record_audit(AuditEvent(now - timedelta(minutes=2), "login.refused", "refused", biller="other"))
        store.record_audit(AuditEvent(now - timedelta(minutes=1), "login.issued", "ok", biller="demo", email="=1+1"))
    finally:
        store.close()
    return config


def _one_json(capsys: pytest.CaptureFixture[str]) -> dict:
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    return json.loads(out)


def test_db_upgrade_applies_and_prints_the_version(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "upgrade", "--config", str(config), "--json"]) == 0
    applied = [m.name for m in migrations("sqlite")]
    assert _one_json(capsys) | {"store": ""} == {"store": "", "version": LATEST.version, "applied": applied}
    assert main(["db", "upgrade", "--config", str(config)]) == 0
    assert capsys.readouterr().out == f"schema version {LATEST.version} (nothing to apply)\n"


def test_db_status_lists_pending_migrations(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "status", "--config", str(config), "--json"]) == 0
    assert _one_json(capsys)["pending"] == [m.name for m in migrations("sqlite")]
    main(["db", "upgrade", "--config", str(config)])
    capsys.readouterr()
    assert main(["db", "status", "--config", str(config), "--json"]) == 0
    assert _one_json(capsys)["pending"] == []


def test_db_upgrade_of_an_unreachable_store_is_one_error_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bridge.toml"
    url = f"sqlite:///{tmp_path / 'missing' / 'bridge.db'}"
    path.write_text(f'[tickets]\nsecrets = ["x"]\n[session]\nsecrets = ["y"]\n[store]\nurl = "{url}"\n')
    assert main(["db", "upgrade", "--config", str(path)]) == 1
    assert capsys.readouterr().err == (
        "icbridge: error: the SQLite store cannot answer: unable to open database file\n")


def test_audit_tail_json_is_the_newest_oldest_first(audited: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "tail", "--config", str(audited), "-n", "2", "--json"]) == 0
    payload = _one_json(capsys)
    assert payload["count"] == 2
    assert [e["event"] for e in payload["events"]] == ["login.refused", "login.issued"]
    assert payload["events"][0]["at"].endswith("Z")


def test_audit_tail_filters_by_since_and_biller(audited: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "tail", "--config", str(audited), "--since", "1h", "--biller", "demo", "--json"]) == 0
    assert [e["account"] for e in _one_json(capsys)["events"]] == ["A1", None]


def test_audit_tail_filters_by_event_name_or_family(audited: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "tail", "--config", str(audited), "--event", "login.refused", "--json"]) == 0
    assert [e["biller"] for e in _one_json(capsys)["events"]] == ["other"]
    assert main(["audit", "tail", "--config", str(audited), "--event", "login", "--json"]) == 0
    assert _one_json(capsys)["count"] == 4
    assert main(["audit", "tail", "--config", str(audited), "--event", "login.issue", "--json"]) == 0
    assert _one_json(capsys)["count"] == 0  # a family is a whole dotted prefix, not any prefix


def test_audit_export_filters_by_event(audited: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "export", "--config", str(audited), "--event", "login.issued", "--since", "1h"]) == 0
    assert [json.loads(line)["account"] for line in capsys.readouterr().out.splitlines()] == ["A1", None]


def test_audit_tail_text_is_one_line_per_event(audited: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "tail", "--config", str(audited), "--biller", "other"]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    assert "login.refused" in line and "biller=other" in line


def test_audit_export_csv_has_a_header_and_defuses_formulas(audited: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "export", "--config", str(audited), "--since", "1h", "--format", "csv"]) == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert rows[0] == ["at", "event", "outcome", "biller", "sp", "account", "email",
                       "login_type", "flow", "client_ip", "actor", "detail"]  # fmt: skip
    assert len(rows) == 4
    assert rows[-1][6] == "'=1+1"


def test_audit_export_jsonl_to_a_private_file(audited: Path, capsys: pytest.CaptureFixture[str]) -> None:
    output = audited.parent / "audit.jsonl"
    args = ["audit", "export", "--config", str(audited), "--biller", "demo", "--output", str(output)]
    assert main(args) == 0
    assert capsys.readouterr().out == f"exported 3 event(s) to {output}\n"
    events = [json.loads(line) for line in output.read_text().splitlines()]
    assert [e["account"] for e in events] == ["old", "A1", None]
    assert stat.S_IMODE(output.stat().st_mode) == 0o600


def test_since_accepts_a_duration_or_an_iso_time() -> None:
    now = datetime(2030, 1, 2, tzinfo=UTC)
    assert parse_since("24h", now=now) == datetime(2030, 1, 1, tzinfo=UTC)
    assert parse_since("2030-01-01T05:00:00+05:00") == datetime(2030, 1, 1, tzinfo=UTC)
    assert parse_since("2030-01-01") == datetime(2030, 1, 1, tzinfo=UTC)


def test_since_that_is_neither_is_a_usage_error(audited: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["audit", "tail", "--config", str(audited), "--since", "yesterday"])
    assert exited.value.code == 2
    assert "neither an ISO 8601 time nor a duration" in capsys.readouterr().err
