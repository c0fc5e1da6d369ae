"""URL sources against a real HTTP server: first fetch, schedule, cache file, expected entity IDs, pins."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from bridge.errors import ConfigError
from bridge.trust.documents import parse_xs_duration
from bridge.trust.metadata_sources import MetadataSources

from .conftest import OTHER_ID, SP_ID, Signer, aggregate, entity, settings_for, sp_metadata, url_source


def _sources(tmp_path, clock, *sources, **metadata) -> MetadataSources:
    manager = MetadataSources(settings_for(tmp_path, *sources, **metadata), clock=clock)
    manager.load()
    return manager


def test_first_fetch_trusts_the_expected_sp(tmp_path, clock, metadata_server):
    metadata_server.serve(sp_metadata(acs="https://sp.example.test/acs"))
    sources = _sources(tmp_path, clock, url_source(metadata_server.url()))
    assert sources.registry.find(SP_ID) is None  # nothing before the first fetch (no cached copy yet)
    sources.tick()
    assert sources.registry.get(SP_ID).default_acs().location == "https://sp.example.test/acs"


def test_first_fetch_saves_the_copy_and_its_status(tmp_path, clock, metadata_server):
    body = sp_metadata()
    metadata_server.serve(body)
    sources = _sources(tmp_path, clock, url_source(metadata_server.url()))
    sources.tick()
    state = sources.states[-1]
    assert (tmp_path / "metadata-cache" / f"{state.key}.xml").read_bytes() == body
    status = json.loads((tmp_path / "metadata-cache" / f"{state.key}.json").read_text())
    assert status["last_success"] == clock().isoformat()
    assert status["next_refresh"] == (clock() + timedelta(hours=1)).isoformat()
    assert status["entity_ids"] == [SP_ID] and status["last_error"] is None


def test_nothing_is_fetched_again_before_the_interval(tmp_path, clock, metadata_server):
    metadata_server.serve(sp_metadata())
    sources = _sources(tmp_path, clock, url_source(metadata_server.url()))
    sources.tick()
    clock.advance(3599)
    sources.tick()
    assert metadata_server.hits["/sp.xml"] == 1
    clock.advance(1)
    sources.tick()
    assert metadata_server.hits["/sp.xml"] == 2


def test_cache_duration_brings_the_next_refresh_forward(tmp_path, clock, metadata_server):
    metadata_server.serve(sp_metadata(attrs=' cacheDuration="PT2M"'))
    sources = _sources(tmp_path, clock, url_source(metadata_server.url()))
    sources.tick()
    assert sources.states[-1].next_refresh == clock() + timedelta(minutes=2)


def test_valid_until_brings_the_next_refresh_forward(tmp_path, clock, metadata_server):
    metadata_server.serve(sp_metadata(valid_until=clock() + timedelta(minutes=10)))
    sources = _sources(tmp_path, clock, url_source(metadata_server.url()))
    sources.tick()
    assert sources.states[-1].next_refresh == clock() + timedelta(minutes=10)


@pytest.mark.parametrize(("text", "seconds"), [("PT2M", 120), ("P1D", 86400), ("PT1H30M", 5400), ("PT0.5S", 0),
                                               ("P1DT2H", 93600), ("bogus", None), ("P", None), ("PT", None)])
def test_xs_durations_are_read_in_seconds(text, seconds):
    assert parse_xs_duration(text) == seconds


def test_an_unexpected_sp_in_the_document_is_ignored(tmp_path, clock, metadata_server, caplog):
    metadata_server.serve(aggregate(entity(SP_ID, nested=True), entity(OTHER_ID, "https://intruder.test/acs",
                                                                       nested=True)))
    sources = _sources(tmp_path, clock, url_source(metadata_server.url()))
    sources.tick()
    assert sources.registry.find(SP_ID) is not None
    assert sources.registry.find(OTHER_ID) is None
    assert f"{OTHER_ID} is not an expected entity ID of this source; ignored" in caplog.text


def test_a_redirect_to_another_loopback_url_is_followed(tmp_path, clock, metadata_server):
    metadata_server.serve(location=metadata_server.url("/moved.xml"))
    metadata_server.serve(sp_metadata(), path="/moved.xml")
    sources = _sources(tmp_path, clock, url_source(metadata_server.url()))
    sources.tick()
    assert sources.registry.find(SP_ID) is not None


@pytest.mark.parametrize("pin_kind", ["pem", "sha256"])
def test_metadata_signed_by_the_pinned_certificate_is_accepted(tmp_path, clock, metadata_server, pin_kind):
    signer = Signer.shared("federation")
    (tmp_path / "federation.pem").write_text(signer.certificate.pem)
    pin = "federation.pem" if pin_kind == "pem" else f"sha256:{signer.certificate.fingerprint.upper()}"
    metadata_server.serve(signer.sign(sp_metadata()))
    sources = _sources(tmp_path, clock, url_source(metadata_server.url(), signing_cert=pin))
    sources.tick()
    assert sources.registry.find(SP_ID) is not None


def test_a_url_source_without_expected_entity_ids_is_a_configuration_error(tmp_path, clock):
    with pytest.raises(ConfigError, match="a url source needs entity_ids"):
        MetadataSources(settings_for(tmp_path, {"type": "url", "url": "https://md.example.test/sp.xml"}))


def test_a_plain_http_url_off_loopback_is_a_configuration_error(tmp_path):
    with pytest.raises(ConfigError, match="must be an https URL"):
        MetadataSources(settings_for(tmp_path, url_source("http://md.example.test/sp.xml")))


def test_an_unreadable_pin_is_a_configuration_error(tmp_path):
    with pytest.raises(ConfigError, match="signing_cert"):
        MetadataSources(settings_for(tmp_path, url_source("https://md.example.test/sp.xml", signing_cert="nope.pem")))


def test_the_metadata_folder_is_always_a_source(tmp_path, clock, metadata_server):
    (tmp_path / "metadata").mkdir()
    (tmp_path / "metadata" / "local.xml").write_bytes(sp_metadata(OTHER_ID, "https://intruder.test/acs"))
    metadata_server.serve(sp_metadata())
    sources = _sources(tmp_path, clock, url_source(metadata_server.url()))
    sources.tick()
    assert {sp.entity_id for sp in sources.registry} == {SP_ID, OTHER_ID}


def test_a_file_source_is_read_at_load(tmp_path, clock):
    (tmp_path / "one.xml").write_bytes(sp_metadata())
    sources = _sources(tmp_path, clock, {"type": "file", "path": "one.xml", "entity_ids": [SP_ID]})
    assert sources.registry.find(SP_ID) is not None
