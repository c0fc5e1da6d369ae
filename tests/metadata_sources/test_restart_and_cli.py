"""The saved copy: a restart without network trusts it, a spoiled one is refused; ``icbridge sp`` commands."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from bridge.cli import main
from bridge.config import load_settings
from bridge.instance import open_instance
from bridge.trust.metadata_sources import MetadataSources

from .conftest import OTHER_ID, SP_ID, MetadataServer, Signer, sp_metadata, toml_source

ACS = "https://sp.example.test/acs"


def _fetch_once(config, body: bytes, clock, extra: str = "") -> MetadataServer:
    """A server that served ``body`` once to sources configured in ``config``, then went away."""
    server = MetadataServer().start()
    try:
        server.serve(body)
        config.write_text(config.read_text() + toml_source(server.url(), extra=extra))
        sources = MetadataSources(load_settings(config), clock=clock)
        sources.load()
        sources.tick()
        assert sources.registry.find(SP_ID) is not None
    finally:
        server.stop()
    return server


def test_a_restart_without_network_trusts_the_saved_copy(sqlite_bridge, clock, caplog):
    config = sqlite_bridge.directory / "bridge.toml"
    _fetch_once(config, sp_metadata(acs=ACS), clock)
    restarted = open_instance(load_settings(config), clock=clock)
    try:
        assert restarted.registry.get(SP_ID).default_acs().location == ACS
        clock.advance(61)
        for job in restarted.extras["jobs"]:
            job()
        assert "cannot fetch: ConnectError" in caplog.text
        assert restarted.registry.get(SP_ID).default_acs().location == ACS
    finally:
        restarted.close()


def test_a_saved_copy_that_has_since_expired_is_not_used(tmp_path, clock):
    config = tmp_path / "bridge.toml"
    config.write_text('[tickets]\nsecrets = ["' + "t" * 32 + '"]\n[session]\nsecrets = ["' + "s" * 32 + '"]\n')
    _fetch_once(config, sp_metadata(valid_until=clock() + timedelta(hours=1)), clock)
    clock.advance(3601)
    sources = MetadataSources(load_settings(config), clock=clock)
    sources.load()
    assert sources.registry.find(SP_ID) is None


def test_a_tampered_saved_copy_is_refused_when_a_pin_is_set(tmp_path, clock, caplog):
    signer = Signer.shared("federation")
    (tmp_path / "federation.pem").write_text(signer.certificate.pem)
    config = tmp_path / "bridge.toml"
    config.write_text('[tickets]\nsecrets = ["' + "t" * 32 + '"]\n[session]\nsecrets = ["' + "s" * 32 + '"]\n')
    _fetch_once(config, signer.sign(sp_metadata(acs=ACS)), clock, extra='signing_cert = "federation.pem"\n')
    sources = MetadataSources(load_settings(config), clock=clock)
    cached = sources.cache_dir / f"{sources.states[-1].key}.xml"
    cached.write_bytes(cached.read_bytes().replace(ACS.encode(), b"https://evil.test/acs"))
    sources.load()
    assert sources.registry.find(SP_ID) is None
    assert "cached copy" in caplog.text and "signature refused" in caplog.text


def _cli(capsys, *argv: str) -> tuple[int, dict, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, json.loads(captured.out) if "--json" in argv else {}, captured.err


def _instance_config(tmp_path, server: MetadataServer) -> str:
    config = tmp_path / "bridge.toml"
    config.write_text('[tickets]\nsecrets = ["' + "t" * 32 + '"]\n[session]\nsecrets = ["' + "s" * 32 + '"]\n'
                      + toml_source(server.url()))
    return str(config)


def test_sp_refresh_then_list_shows_source_endpoints_certificates_and_refresh_times(tmp_path, metadata_server,
                                                                                     capsys):
    metadata_server.serve(sp_metadata(acs=ACS))
    config = _instance_config(tmp_path, metadata_server)
    code, refreshed, _ = _cli(capsys, "sp", "refresh", "--json", "--config", config)
    assert code == 0 and refreshed["ok"] is True
    code, listed, _ = _cli(capsys, "sp", "list", "--json", "--config", config)
    [row] = listed["service_providers"]
    assert row["entity_id"] == SP_ID
    assert row["source"] == metadata_server.url()
    assert [e["location"] for e in row["acs"]] == [ACS]
    assert row["certificates"][0]["use"] == "signing" and row["certificates"][0]["not_after"]
    assert row["last_refresh"] and row["next_refresh"] > row["last_refresh"]


def test_sp_show_prints_one_sp(tmp_path, metadata_server, capsys):
    metadata_server.serve(sp_metadata(acs=ACS))
    config = _instance_config(tmp_path, metadata_server)
    _cli(capsys, "sp", "refresh", "--config", config)
    code, shown, _ = _cli(capsys, "sp", "show", SP_ID, "--json", "--config", config)
    assert code == 0
    assert shown["entity_id"] == SP_ID and shown["acs"][0]["location"] == ACS
    assert shown["want_assertions_signed"] is True
    code, _, err = _cli(capsys, "sp", "show", OTHER_ID, "--config", config)
    assert code == 1 and f"no trusted service provider {OTHER_ID}" in err


def test_sp_refresh_of_a_bad_document_fails_with_one_line_and_keeps_the_copy(tmp_path, metadata_server, capsys):
    metadata_server.serve(sp_metadata(acs=ACS))
    config = _instance_config(tmp_path, metadata_server)
    _cli(capsys, "sp", "refresh", SP_ID, "--config", config)
    metadata_server.serve(sp_metadata(OTHER_ID, "https://intruder.test/acs"))
    code, result, err = _cli(capsys, "sp", "refresh", SP_ID, "--json", "--config", config)
    assert code == 1 and result["ok"] is False
    assert err.strip().splitlines() == [
        f"icbridge: error: {metadata_server.url()}: expected entity ID(s) missing from the document: {SP_ID}"
    ]
    _, listed, _ = _cli(capsys, "sp", "list", "--json", "--config", config)
    assert [row["entity_id"] for row in listed["service_providers"]] == [SP_ID]
    assert listed["service_providers"][0]["last_error"].startswith("expected entity ID(s) missing")


def test_sp_refresh_of_an_unknown_entity_is_an_error(tmp_path, metadata_server, capsys):
    config = _instance_config(tmp_path, metadata_server)
    code, _, err = _cli(capsys, "sp", "refresh", OTHER_ID, "--config", config)
    assert code == 1 and f"no metadata source provides {OTHER_ID}" in err


def test_a_running_bridge_takes_the_copy_saved_by_sp_refresh(tmp_path, metadata_server, clock, capsys):
    metadata_server.serve(sp_metadata(acs=ACS))
    config = _instance_config(tmp_path, metadata_server)
    running = MetadataSources(load_settings(Path(config)), clock=clock)
    running.load()
    running.tick()
    metadata_server.serve(sp_metadata(acs="https://sp.example.test/acs-v2"))
    assert _cli(capsys, "sp", "refresh", "--config", config)[0] == 0
    running.tick()  # not due yet: it reads the newer saved copy, it does not fetch
    assert running.registry.get(SP_ID).default_acs().location == "https://sp.example.test/acs-v2"
    assert metadata_server.hits["/sp.xml"] == 2
