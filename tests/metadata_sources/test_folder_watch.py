"""The metadata/ folder is followed while the bridge runs: a file added, changed or removed takes effect on the
next background pass; a file that stops parsing keeps its last good copy and is reported (log, /readyz,
``icbridge sp reload``); ``icbridge sp reload`` and SIGHUP force a re-read."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from saml_peers import OneLoginSP

from bridge.errors import UnknownServiceProvider
from bridge.trust.metadata_sources import RefreshJob

from .conftest import free_port, sp_metadata

SP_ID = "https://sp.example.test/metadata"
PAYER = {"email": "pat.payer@example.com", "account_number": "101Invoice", "role": "owner"}


def _pass(harness) -> None:  # type: ignore[no-untyped-def]
    """One background pass of the metadata job, as the housekeeping loop runs it every few seconds."""
    (job,) = [j for j in harness.instance.extras["jobs"] if isinstance(j, RefreshJob)]
    job()


def _acs(harness, entity_id: str = SP_ID) -> str:  # type: ignore[no-untyped-def]
    return harness.instance.registry.get(entity_id).default_acs().location


def _write(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))  # a new mtime even on coarse clocks


def test_an_added_file_is_trusted_without_a_restart(sqlite_bridge):
    sp = OneLoginSP()
    _write(sqlite_bridge.directory / "metadata" / "added.xml", sp.metadata())
    with pytest.raises(UnknownServiceProvider):
        sqlite_bridge.instance.registry.get(sp.entity_id)
    _pass(sqlite_bridge)
    sp.idp_metadata = sqlite_bridge.metadata()
    sqlite_bridge.add_biller("city", sp.entity_id)
    assert sqlite_bridge.launch("city", **PAYER).status_code == 303
    url, request_id = sp.start_redirect()
    assert sp.consume(sqlite_bridge.posted(sqlite_bridge.sso_redirect(url)), request_id).name_id == PAYER["email"]


def test_a_changed_file_takes_effect_and_a_removed_one_stops_being_trusted(sqlite_bridge):
    path = sqlite_bridge.directory / "metadata" / "sp.xml"
    _write(path, sp_metadata(acs="https://sp.example.test/acs"))
    _pass(sqlite_bridge)
    _write(path, sp_metadata(acs="https://sp.example.test/new-acs"))
    _pass(sqlite_bridge)
    assert _acs(sqlite_bridge) == "https://sp.example.test/new-acs"
    path.unlink()
    _pass(sqlite_bridge)
    with pytest.raises(UnknownServiceProvider):
        sqlite_bridge.instance.registry.get(SP_ID)


def test_a_file_that_stops_parsing_keeps_its_last_good_copy_and_is_reported(sqlite_bridge, caplog):
    folder = sqlite_bridge.directory / "metadata"
    _write(folder / "sp.xml", sp_metadata(acs="https://sp.example.test/acs"))
    _pass(sqlite_bridge)
    _write(folder / "sp.xml", b"<md:EntityDescriptor half written")
    _write(folder / "other.xml", sp_metadata("https://other.example.test/metadata"))  # still followed
    _pass(sqlite_bridge)
    assert _acs(sqlite_bridge) == "https://sp.example.test/acs"
    assert _acs(sqlite_bridge, "https://other.example.test/metadata")
    assert f"{folder / 'sp.xml'}" in caplog.text and "keeping its last good copy" in caplog.text
    body = sqlite_bridge.client.get("/readyz").json()
    assert body["status"] == "degraded"
    (problem,) = [v for k, v in body["checks"].items() if k.endswith("sp.xml")]
    assert "not well-formed" in problem and "keeping its last good copy" in problem
    _write(folder / "sp.xml", sp_metadata(acs="https://sp.example.test/fixed"))
    _pass(sqlite_bridge)
    assert _acs(sqlite_bridge) == "https://sp.example.test/fixed"
    assert sqlite_bridge.client.get("/readyz").json()["status"] == "ok"


def test_a_new_file_that_does_not_parse_is_not_trusted_and_is_reported(sqlite_bridge):
    _write(sqlite_bridge.directory / "metadata" / "broken.xml", b"not xml")
    _pass(sqlite_bridge)
    checks = sqlite_bridge.client.get("/readyz").json()["checks"]
    assert any(k.endswith("broken.xml") and "its SPs are not trusted" in v for k, v in checks.items())


def _same_stamp(path: Path, data: bytes) -> None:
    """Rewrite a file with the same size and modification time: no stamp shows the change."""
    stat = path.stat()
    assert len(data) == stat.st_size
    path.write_bytes(data)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def test_a_reload_request_rereads_files_whose_stamp_did_not_change(sqlite_bridge):
    path = sqlite_bridge.directory / "metadata" / "sp.xml"
    first = sp_metadata(acs="https://sp.example.test/acs1")
    _write(path, first)
    _pass(sqlite_bridge)
    _same_stamp(path, first.replace(b"/acs1", b"/acs2"))
    _pass(sqlite_bridge)
    assert _acs(sqlite_bridge) == "https://sp.example.test/acs1"
    sqlite_bridge.instance.extras["metadata_sources"].request_reload()  # what SIGHUP does
    _pass(sqlite_bridge)
    assert _acs(sqlite_bridge) == "https://sp.example.test/acs2"


def _icbridge(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bridge", *args], capture_output=True, text=True, timeout=60)


def test_icbridge_sp_reload_reports_a_bad_file_and_makes_running_bridges_reread(sqlite_bridge):
    path = sqlite_bridge.directory / "metadata" / "sp.xml"
    first = sp_metadata(acs="https://sp.example.test/acs1")
    _write(path, first)
    _pass(sqlite_bridge)
    _same_stamp(path, first.replace(b"/acs1", b"/acs2"))
    config = str(sqlite_bridge.directory / "bridge.toml")
    done = _icbridge("sp", "reload", "--config", config, "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["ok"] is True
    _pass(sqlite_bridge)
    assert _acs(sqlite_bridge) == "https://sp.example.test/acs2"
    (path.parent / "bad.xml").write_bytes(b"<oops")
    refused = _icbridge("sp", "reload", "--config", config)
    assert refused.returncode == 1
    assert f"{path.parent / 'bad.xml'}" in refused.stderr and "Traceback" not in refused.stderr


def test_sighup_makes_a_served_bridge_reread_its_files_and_keep_running(tmp_path):
    made = _icbridge("init", str(tmp_path / "instance"), "--json")  # a development instance: `serve` starts
    assert made.returncode == 0, made.stderr
    config = json.loads(made.stdout)["config"]
    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    server = subprocess.Popen([sys.executable, "-m", "bridge", "serve", "--config", config, "--port", str(port),
                               "--log-level", "info"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                              text=True)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
            assert server.poll() is None, server.communicate(timeout=10)[0][-2000:]
        server.send_signal(signal.SIGHUP)
        time.sleep(7)  # one background pass (every 5 s)
        assert server.poll() is None, f"the bridge stopped: {server.communicate(timeout=10)[0][-2000:]}"
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200
    finally:
        server.send_signal(signal.SIGTERM)
        output, _ = server.communicate(timeout=30)
    assert "reloading the local sources" in output
