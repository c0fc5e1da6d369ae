"""The command line refuses unsafe setups with exit 1 and one line per problem, never a traceback."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bridge.cli import main
from bridge.instance import init_instance


@pytest.fixture
def instance_dir(tmp_path: Path, clock) -> Path:  # type: ignore[no-untyped-def]
    result = init_instance(tmp_path / "inst", base_url="https://bridge.test", now=clock(),
                           store_url=f"sqlite:///{tmp_path / 'inst.db'}", simulator=False)
    return Path(result.config)


def _run(capsys, *argv: str) -> tuple[int, list[str], str]:  # type: ignore[no-untyped-def]
    code = main(list(argv))
    out = capsys.readouterr()
    assert "Traceback" not in out.err + out.out
    return code, out.err.splitlines(), out.out


def test_config_that_is_not_toml_is_exit_1_with_one_line(instance_dir, capsys):
    instance_dir.write_text("[idp\nbase_url = ")
    code, err, _ = _run(capsys, "link", "--config", str(instance_dir), "--biller", "demo", "--account", "1")
    assert code == 1
    assert len(err) == 1 and err[0].startswith("icbridge: error: ") and "not valid TOML" in err[0]


def test_config_with_an_http_base_url_off_loopback_is_refused(instance_dir, capsys):
    text = instance_dir.read_text().replace('base_url = "https://bridge.test"', 'base_url = "http://bridge.test"')
    instance_dir.write_text(text)
    code, err, _ = _run(capsys, "link", "--config", str(instance_dir), "--biller", "demo", "--account", "1")
    assert code == 1
    assert len(err) == 1 and "idp.base_url" in err[0] and "https" in err[0]


def test_config_secret_from_a_missing_environment_variable_is_one_line(instance_dir, capsys, monkeypatch):
    monkeypatch.delenv("BRIDGE_TEST_NO_SUCH_SECRET", raising=False)
    text = instance_dir.read_text()
    start = text.index("[tickets]")
    end = text.index("\n[", start + 1) if "\n[" in text[start + 1:] else len(text)
    section = "[tickets]\nsecrets = [\"env:BRIDGE_TEST_NO_SUCH_SECRET\"]\n"
    instance_dir.write_text(text[:start] + section + text[end:])
    code, err, _ = _run(capsys, "link", "--config", str(instance_dir), "--biller", "demo", "--account", "1")
    assert code == 1
    assert len(err) == 1 and "BRIDGE_TEST_NO_SUCH_SECRET is not set" in err[0]


def test_world_readable_private_key_fails_check_with_one_line(instance_dir, capsys):
    key = next((instance_dir.parent / "certs").glob("*.key"))
    os.chmod(key, 0o644)
    code, err, out = _run(capsys, "check", "--config", str(instance_dir))
    assert code == 1
    lines = [line for line in (err + out.splitlines()) if "readable by group or others" in line]
    assert len(lines) == 1 and "chmod 600" in lines[0]
    assert "PRIVATE KEY" not in "\n".join(err) + out


def test_group_readable_private_key_fails_check(instance_dir, capsys):
    key = next((instance_dir.parent / "certs").glob("*.key"))
    os.chmod(key, 0o640)
    code, _, _ = _run(capsys, "check", "--config", str(instance_dir))
    assert code == 1


def test_metadata_file_with_a_dtd_fails_check(instance_dir, capsys):
    (instance_dir.parent / "metadata" / "evil.xml").write_bytes(
        b'<!DOCTYPE m [<!ENTITY x SYSTEM "file:///etc/passwd">]><md:EntityDescriptor '
        b'xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="&x;"/>'
    )
    code, err, out = _run(capsys, "check", "--config", str(instance_dir))
    assert code == 1
    assert any("DTD" in line for line in err + out.splitlines())
    assert "root:" not in "\n".join(err) + out


def test_init_writes_the_config_and_key_owner_only(instance_dir):
    assert instance_dir.stat().st_mode & 0o077 == 0
    for key in (instance_dir.parent / "certs").glob("*.key"):
        assert key.stat().st_mode & 0o077 == 0


def test_init_refuses_to_overwrite_an_instance(instance_dir, capsys):
    code, err, _ = _run(capsys, "init", str(instance_dir.parent))
    assert code == 1
    assert len(err) == 1 and err[0].startswith("icbridge: error: ")
