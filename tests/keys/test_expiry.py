"""Expiry warnings (/readyz, the Prometheus gauge, the daily log line) and refusing to start on a bad key file."""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from pathlib import Path

import pytest

from bridge.cli import main
from bridge.clock import utcnow
from bridge.instance import init_instance

from .conftest import DAY


def _gauge(bridge) -> dict[tuple[str, str], float]:
    text = bridge.client.get("/metrics").text
    pattern = r'^bridge_key_expiry_seconds\{kid="(\w+)",state="(\w+)"\} (\S+)$'
    return {(kid, state): float(value) for kid, state, value in re.findall(pattern, text, re.M)}


def test_the_expiry_gauge_labels_each_published_key_with_its_state(sqlite_admin):
    bridge = sqlite_admin.bridge
    old = sqlite_admin.active_kid
    new = sqlite_admin.staged()
    assert set(_gauge(bridge)) == {(old, "active"), (new, "pending")}
    bridge.clock.advance(DAY)
    sqlite_admin.activate(new)
    assert set(_gauge(bridge)) == {(new, "active"), (old, "retiring")}
    sqlite_admin.bridge.clock.advance(DAY)  # keys.min_overlap after the activation
    sqlite_admin.retire(old)
    gauge = _gauge(bridge)
    assert set(gauge) == {(new, "active")}
    expected = (sqlite_admin.certificate(new).not_after - bridge.clock()).total_seconds()
    assert gauge[(new, "active")] == pytest.approx(expected)


def test_readyz_is_degraded_when_the_active_cert_expires_within_the_warning_days(sqlite_admin):
    bridge = sqlite_admin.bridge
    assert bridge.client.get("/readyz").json()["status"] == "ok"
    expires = sqlite_admin.certificate(sqlite_admin.active_kid).not_after
    bridge.clock.now = expires - timedelta(days=bridge.settings.keys.expiry_warning_days - 1)
    body = bridge.client.get("/readyz").json()
    assert body["status"] == "degraded"
    assert "expires in" in body["checks"]["expiry_warning"]


def _expiry_job(instance):
    return next(job for job in instance.extras["jobs"] if "key-expiry-warning" in repr(job))


def test_the_expiry_warning_is_logged_once_a_day(sqlite_admin, caplog):
    bridge = sqlite_admin.bridge
    job = _expiry_job(bridge.instance)
    expires = sqlite_admin.certificate(sqlite_admin.active_kid).not_after
    bridge.clock.now = expires - timedelta(days=10)
    with caplog.at_level(logging.WARNING, logger="bridge.keys.lifecycle"):
        job()
        bridge.clock.advance(3600)
        job()  # the background loop calls every 5 s; the warning comes once a day
        bridge.clock.advance(DAY)
        job()
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2
    assert f"active signing certificate {sqlite_admin.active_kid} expires in" in lines[0]


def test_no_expiry_warning_is_logged_far_from_expiry(sqlite_admin, caplog):
    with caplog.at_level(logging.WARNING, logger="bridge.keys.lifecycle"):
        _expiry_job(sqlite_admin.bridge.instance)()
    assert caplog.records == []


# --- `icbridge check` and `icbridge serve` -------------------------------------------------------------


@pytest.fixture
def instance_dir(tmp_path: Path) -> Path:
    init_instance(tmp_path / "inst", base_url="http://127.0.0.1:8000", now=utcnow())
    return tmp_path / "inst"


def _errors(capsys) -> list[str]:
    captured = capsys.readouterr()
    return [line for line in (captured.out + captured.err).splitlines() if line.strip()]


def test_check_exits_1_when_the_active_cert_has_expired(tmp_path, capsys):
    init_instance(tmp_path / "old", base_url="http://127.0.0.1:8000", now=utcnow() - timedelta(days=731))
    assert main(["check", "--config", str(tmp_path / "old" / "bridge.toml")]) == 1
    lines = _errors(capsys)
    assert len(lines) == 1
    assert re.match(r"keys: active certificate \w+ expired on \d{4}-\d\d-\d\d$", lines[0])


def _key_file(directory: Path) -> Path:
    return next((directory / "certs").glob("*.key"))


def test_check_and_serve_refuse_a_world_readable_key_in_one_line(instance_dir, capsys):
    key = _key_file(instance_dir)
    key.chmod(0o644)
    config = str(instance_dir / "bridge.toml")
    line = f"keys: active key {key.stem}: {key}: private key is readable by group or others (mode 0644); " \
           f"run: chmod 600 {key}"
    assert main(["check", "--config", config]) == 1
    assert _errors(capsys) == [line]
    assert main(["serve", "--config", config, "--port", "1"]) == 1
    assert _errors(capsys) == [f"icbridge: error: {line}"]


def test_check_and_serve_refuse_an_unreadable_key_in_one_line(instance_dir, capsys):
    key = _key_file(instance_dir)
    key.write_bytes(b"this is not a PEM key")
    config = str(instance_dir / "bridge.toml")
    line = f"keys: active key {key.stem}: {key}: not a readable PEM private key (or wrong passphrase)"
    assert main(["check", "--config", config]) == 1
    assert _errors(capsys) == [line]
    assert main(["serve", "--config", config, "--port", "1"]) == 1
    assert _errors(capsys) == [f"icbridge: error: {line}"]


def test_check_refuses_a_missing_key_file_in_one_line(instance_dir, capsys):
    key = _key_file(instance_dir)
    key.unlink()
    assert main(["check", "--config", str(instance_dir / "bridge.toml")]) == 1
    assert _errors(capsys) == [f"keys: active key {key.stem}: {key}: private key file not found"]
