"""A running bridge follows its URL sources: SSO uses the refreshed ACS and certificate without a restart,
expired metadata stops being trusted, /readyz turns degraded only past max_staleness."""

from __future__ import annotations

from datetime import timedelta

import pytest
from saml_peers import OneLoginSP

from bridge.config import load_settings
from bridge.errors import UnknownServiceProvider
from bridge.trust.metadata_sources import MetadataSources, RefreshJob

from .conftest import SP_ID, aggregate, entity, sp_metadata, toml_source

ONELOGIN_ID = "https://sp-onelogin.test/metadata"
PAYER = {"email": "pat.payer@example.com", "account_number": "101Invoice", "role": "owner"}


def _with_source(harness, url: str, entity_id: str, extra: str = "") -> MetadataSources:
    """The harness's bridge.toml gains a URL source; its sources feed the live registry of the running app."""
    config = harness.directory / "bridge.toml"
    config.write_text(config.read_text() + toml_source(url, entity_id, extra=extra))
    instance = harness.instance
    sources = MetadataSources(load_settings(config), instance.registry, clock=harness.clock, metrics=instance.metrics)
    sources.load()
    instance.extras["jobs"].append(RefreshJob(sources, instance.extras["readiness_problems"]))
    return sources


def _sso(harness, sp: OneLoginSP):  # type: ignore[no-untyped-def]
    sp.idp_metadata = harness.metadata()
    url, request_id = sp.start_redirect()
    return harness.sso_redirect(url), request_id


def _run_job(harness) -> None:
    for job in harness.instance.extras["jobs"]:
        job()


def test_sso_follows_a_refreshed_acs_and_certificate_without_restart(sqlite_bridge, metadata_server):
    old = OneLoginSP(ONELOGIN_ID, "https://sp-onelogin.test/acs", sign_requests=True)
    metadata_server.serve(old.metadata())
    _with_source(sqlite_bridge, metadata_server.url(), ONELOGIN_ID)
    _run_job(sqlite_bridge)
    sqlite_bridge.add_biller("city", ONELOGIN_ID)
    assert sqlite_bridge.launch("city", **PAYER).status_code == 303
    answer, request_id = _sso(sqlite_bridge, old)
    old.consume(sqlite_bridge.posted(answer), request_id)

    new = OneLoginSP(ONELOGIN_ID, "https://sp-onelogin.test/acs-v2", sign_requests=True)  # fresh key pair
    metadata_server.serve(new.metadata())
    sqlite_bridge.clock.advance(61)  # refresh_interval = "1m"
    _run_job(sqlite_bridge)

    answer, request_id = _sso(sqlite_bridge, new)
    form = sqlite_bridge.posted(answer)
    assert form.action == "https://sp-onelogin.test/acs-v2"
    new.consume(form, request_id)
    refused, _ = _sso(sqlite_bridge, old)  # signed with the retired key
    assert refused.status_code == 400
    assert "SAMLResponse" not in refused.text


def test_metadata_is_dropped_when_its_valid_until_passes(sqlite_bridge, metadata_server, caplog):
    clock = sqlite_bridge.clock
    metadata_server.serve(sp_metadata(valid_until=clock() + timedelta(minutes=5)))
    _with_source(sqlite_bridge, metadata_server.url(), SP_ID)
    _run_job(sqlite_bridge)
    assert sqlite_bridge.instance.registry.find(SP_ID) is not None
    metadata_server.serve(b"gone", status=503)
    clock.advance(301)
    _run_job(sqlite_bridge)
    assert sqlite_bridge.instance.registry.find(SP_ID) is None
    assert "its SPs are no longer trusted" in caplog.text
    body = sqlite_bridge.client.get("/readyz").json()
    assert body["status"] == "degraded"
    assert "no usable metadata" in body["checks"][f"sp_metadata {metadata_server.url()}"]


def test_readiness_turns_degraded_only_past_max_staleness(sqlite_bridge, metadata_server):
    clock = sqlite_bridge.clock
    metadata_server.serve(sp_metadata())
    _with_source(sqlite_bridge, metadata_server.url(), SP_ID, extra='max_staleness = "10m"\n')
    _run_job(sqlite_bridge)
    metadata_server.serve(b"", status=500)
    name = f"sp_metadata {metadata_server.url()}"
    clock.advance(61)
    _run_job(sqlite_bridge)  # refresh refused, copy 1 minute old
    assert name not in sqlite_bridge.client.get("/readyz").json()["checks"]
    assert sqlite_bridge.instance.registry.find(SP_ID) is not None
    clock.advance(540)
    _run_job(sqlite_bridge)  # copy 10 minutes 1 second old
    body = sqlite_bridge.client.get("/readyz").json()
    assert body["status"] == "degraded"
    assert "the server answered HTTP 500" in body["checks"][name]
    assert sqlite_bridge.instance.registry.find(SP_ID) is not None  # stale, still trusted until validUntil
    metadata_server.serve(sp_metadata())
    clock.advance(60)
    _run_job(sqlite_bridge)
    assert name not in sqlite_bridge.client.get("/readyz").json()["checks"]


def test_a_failed_refresh_moves_the_prometheus_counter(sqlite_bridge, metadata_server):
    metadata_server.serve(b"not xml")
    _with_source(sqlite_bridge, metadata_server.url(), SP_ID)
    _run_job(sqlite_bridge)
    metrics = sqlite_bridge.client.get("/metrics").text
    assert (f'bridge_sp_metadata_refreshes_total{{outcome="failed",source="{metadata_server.url()}"}} 1.0'
            in metrics)


def test_an_sp_is_refused_the_moment_its_valid_until_passes_even_before_a_refresh(sqlite_bridge, metadata_server):
    clock = sqlite_bridge.clock
    metadata_server.serve(sp_metadata(valid_until=clock() + timedelta(minutes=5)))
    _with_source(sqlite_bridge, metadata_server.url(), SP_ID)
    _run_job(sqlite_bridge)
    assert sqlite_bridge.instance.registry.get(SP_ID).entity_id == SP_ID
    clock.advance(301)  # no refresh has run since
    with pytest.raises(UnknownServiceProvider, match="expired"):
        sqlite_bridge.instance.registry.get(SP_ID)


def test_an_aggregates_valid_until_binds_the_entities_inside_it(sqlite_bridge, metadata_server):
    clock = sqlite_bridge.clock
    until = (clock() + timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    metadata_server.serve(aggregate(entity(SP_ID, nested=True), attrs=f' validUntil="{until}"'))
    _with_source(sqlite_bridge, metadata_server.url(), SP_ID)
    _run_job(sqlite_bridge)
    sqlite_bridge.instance.registry.get(SP_ID)
    clock.advance(301)
    with pytest.raises(UnknownServiceProvider, match="expired"):
        sqlite_bridge.instance.registry.get(SP_ID)
