"""`icbridge keys ...` against a real instance: output, --json, and one-line errors that change nothing."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bridge.cli import main
from bridge.clock import utcnow
from bridge.instance import init_instance
from bridge.keys.material import generate_rsa_key, private_key_pem, self_signed_certificate, write_private_key
from bridge.store import open_store_url


@pytest.fixture
def config(tmp_path: Path) -> str:
    init_instance(tmp_path / "inst", base_url="http://127.0.0.1:8000", now=utcnow())
    return str(tmp_path / "inst" / "bridge.toml")


def run(capsys, config: str, *args: str) -> tuple[int, str, str]:
    code = main(["keys", *args, "--config", config])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def run_json(capsys, config: str, *args: str) -> dict:
    code, out, err = run(capsys, config, *args, "--json")
    assert code == 0, err
    assert len(out.strip().splitlines()) == 1
    return json.loads(out)


def states(capsys, config: str) -> dict[str, str]:
    return {k["kid"]: k["state"] for k in run_json(capsys, config, "list")["keys"]}


def test_list_shows_what_an_admin_needs_for_each_key(capsys, config):
    (key,) = run_json(capsys, config, "list")["keys"]
    assert key["state"] == "active"
    assert key["algorithm"] == "RSA" and key["size"] == 2048
    assert key["fingerprint_sha256"].startswith(key["kid"]) and len(key["fingerprint_sha256"]) == 64
    assert datetime.fromisoformat(key["not_after"]) > datetime.fromisoformat(key["not_before"])
    assert key["days_to_expiry"] in (729, 730)


def test_list_text_has_a_row_per_key(capsys, config):
    code, out, _ = run(capsys, config, "list")
    assert code == 0
    header, row = out.strip().splitlines()
    assert "FINGERPRINT" in header and " active " in row and "sha256:" in row


def test_generate_prints_the_kid_of_an_unpublished_key(capsys, config):
    code, out, _ = run(capsys, config, "generate", "--validity-days", "365")
    kid = out.splitlines()[0]
    assert code == 0
    assert states(capsys, config)[kid] == "generated"


def test_a_whole_rotation_from_the_command_line(capsys, config):
    old = next(iter(states(capsys, config)))
    new = run_json(capsys, config, "generate", "--size", "2048")["kid"]
    assert run_json(capsys, config, "stage", new) == {"kid": new, "state": "pending"}
    activated = run_json(capsys, config, "activate", new, "--force")
    assert activated["state"] == "active" and activated["retiring"] == [old]
    assert any(w.startswith("forced") for w in activated["warnings"])
    retired = run_json(capsys, config, "retire", old, "--force")  # seconds after the activation
    assert retired["state"] == "retired" and retired["warnings"][0].startswith(f"forced: key {old} stopped signing")
    purged = run_json(capsys, config, "purge", old)
    assert len(purged["removed"]) == 2
    assert states(capsys, config) == {new: "active"}


def test_activate_prints_the_guard_evidence_and_warns_on_stderr(capsys, config):
    new = run_json(capsys, config, "generate")["kid"]
    run(capsys, config, "stage", new)
    code, out, err = run(capsys, config, "activate", new, "--force")
    assert code == 0
    assert f"Metadata fetches that listed {new}" in out and "  none" in out
    assert "icbridge: warning: forced" in err
    assert f"icbridge: warning: no client has fetched metadata listing {new}" in err


def test_import_copies_a_matching_pair_with_a_private_key_file(capsys, config, tmp_path):
    key_file, cert_file, kid = _pair(tmp_path)
    imported = run_json(capsys, config, "generate", "--import-key", str(key_file), "--import-cert", str(cert_file))
    assert imported["kid"] == kid and imported["state"] == "generated"
    copied = Path(config).parent / "certs" / f"{kid}.key"
    assert copied.stat().st_mode & 0o777 == 0o600


def test_generate_with_a_passphrase_writes_an_encrypted_key_that_activates(capsys, config, monkeypatch):
    monkeypatch.setenv("BRIDGE_TEST_KEY_PASS", "correct horse battery staple")
    path = Path(config)
    path.write_text(path.read_text().replace('[keys]\n', '[keys]\npassphrase = "env:BRIDGE_TEST_KEY_PASS"\n'))
    new = run_json(capsys, config, "generate")["kid"]
    assert b"ENCRYPTED" in (path.parent / "certs" / f"{new}.key").read_bytes()
    run(capsys, config, "stage", new)
    assert run_json(capsys, config, "activate", new, "--force")["state"] == "active"


# --- bad input: one line, exit 1, the key set unchanged ---------------------------------------------


def _pair(tmp_path: Path, *, now: datetime | None = None, days: int = 30, mode: int = 0o600):
    key = generate_rsa_key(2048)
    cert = self_signed_certificate(key, common_name="imported", now=now or datetime.now(UTC), validity_days=days)
    key_file, cert_file = tmp_path / f"in-{cert.kid}.key", tmp_path / f"in-{cert.kid}.crt"
    write_private_key(key_file, private_key_pem(key))
    key_file.chmod(mode)
    cert_file.write_text(cert.pem)
    return key_file, cert_file, cert.kid


def refused(capsys, config: str, *args: str) -> str:
    before = _records(config)
    code, out, err = run(capsys, config, *args)
    assert code == 1
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("icbridge: error: "), err
    assert _records(config) == before
    return lines[0]


def _records(config: str):
    directory = Path(config).parent
    store = open_store_url(f"sqlite:///{directory / 'bridge.db'}", base_dir=directory)
    try:
        return store.list_keys(), sorted(p.name for p in (directory / "certs").iterdir())
    finally:
        store.close()


def test_an_unknown_kid_is_one_clear_line(capsys, config):
    for step in ("stage", "activate", "retire", "purge"):
        assert "no signing key 'feedfacefeedface'" in refused(capsys, config, step, "feedfacefeedface")


def test_activating_an_unstaged_key_is_refused(capsys, config):
    new = run_json(capsys, config, "generate")["kid"]
    assert "stage it first" in refused(capsys, config, "activate", new, "--force")


def test_activating_before_the_overlap_is_refused_without_force(capsys, config):
    new = run_json(capsys, config, "generate")["kid"]
    run(capsys, config, "stage", new)
    assert "less than keys.min_overlap" in refused(capsys, config, "activate", new)


def test_retiring_right_after_the_activation_is_refused_without_force(capsys, config):
    (old,) = states(capsys, config)
    new = run_json(capsys, config, "generate")["kid"]
    run(capsys, config, "stage", new)
    run(capsys, config, "activate", new, "--force")
    line = refused(capsys, config, "retire", old)
    assert "less than keys.min_overlap" in line and line.endswith("force the retirement (--force)")


def test_retiring_the_only_active_key_is_refused(capsys, config):
    (active,) = states(capsys, config)
    assert "it is the active signing key" in refused(capsys, config, "retire", active)


def test_importing_a_mismatched_pair_is_refused(capsys, config, tmp_path):
    key_file, _cert, _kid = _pair(tmp_path)
    _key, other_cert, other_kid = _pair(tmp_path)
    line = refused(capsys, config, "generate", "--import-key", str(key_file), "--import-cert", str(other_cert))
    assert line.endswith(f"private key does not match certificate {other_kid}")


def test_importing_a_world_readable_key_is_refused(capsys, config, tmp_path):
    key_file, cert_file, _kid = _pair(tmp_path, mode=0o644)
    line = refused(capsys, config, "generate", "--import-key", str(key_file), "--import-cert", str(cert_file))
    assert "readable by group or others (mode 0644)" in line


def test_importing_an_expired_certificate_is_refused(capsys, config, tmp_path):
    key_file, cert_file, _kid = _pair(tmp_path, now=datetime.now(UTC) - timedelta(days=40), days=30)
    line = refused(capsys, config, "generate", "--import-key", str(key_file), "--import-cert", str(cert_file))
    assert "certificate expired on" in line


def test_importing_a_file_that_is_not_a_certificate_is_refused(capsys, config, tmp_path):
    key_file, _cert, _kid = _pair(tmp_path)
    junk = tmp_path / "junk.crt"
    junk.write_text("not a certificate")
    line = refused(capsys, config, "generate", "--import-key", str(key_file), "--import-cert", str(junk))
    assert line.endswith("junk.crt: not a PEM X.509 certificate")


def test_import_key_without_import_cert_is_refused(capsys, config, tmp_path):
    key_file, _cert, _kid = _pair(tmp_path)
    assert "go together" in refused(capsys, config, "generate", "--import-key", str(key_file))


def test_a_too_small_key_size_is_refused(capsys, config):
    assert "at least 2048 bits" in refused(capsys, config, "generate", "--size", "1024")
