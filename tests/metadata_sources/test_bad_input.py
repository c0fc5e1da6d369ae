"""Every bad answer is refused with one clear line; the last good copy stays and trust never widens."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from bridge.metrics import Metrics
from bridge.trust.metadata_sources import MetadataSources

from .conftest import (
    FETCH_TIMEOUT,
    MAX_SIZE,
    OTHER_ID,
    SP_ID,
    MetadataServer,
    Signer,
    aggregate,
    entity,
    free_port,
    settings_for,
    sp_metadata,
    url_source,
)

GOOD_ACS = "https://sp.example.test/acs"
NEW_ACS = "https://sp.example.test/acs-new"
BILLION_LAUGHS = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]>'
                  b"<md:EntityDescriptor xmlns:md=\"urn:oasis:names:tc:SAML:2.0:metadata\" entityID=\"&lol2;\"/>")


def _trusting(tmp_path, clock, server: MetadataServer, **source_options) -> tuple[MetadataSources, Metrics]:
    """Sources that fetched a good copy (ACS GOOD_ACS) and are due to refresh now."""
    metrics = Metrics()
    sources = MetadataSources(settings_for(tmp_path, url_source(server.url(), **source_options)), clock=clock,
                              metrics=metrics)
    sources.load()
    sources.tick()
    assert sources.registry.get(SP_ID).default_acs().location == GOOD_ACS
    clock.advance(3600)
    return sources, metrics


def _failures(metrics: Metrics, server: MetadataServer) -> float:
    value = metrics.registry.get_sample_value(
        "bridge_sp_metadata_refreshes_total", {"source": server.url(), "outcome": "failed"}
    )
    return value or 0.0


def _assert_kept(sources: MetadataSources, tmp_path, caplog, reason: str) -> None:
    assert sources.registry.get(SP_ID).default_acs().location == GOOD_ACS
    assert sources.registry.find(OTHER_ID) is None
    assert {sp.entity_id for sp in sources.registry} == {SP_ID}
    lines = [r.getMessage() for r in caplog.records if "refresh refused" in r.getMessage()]
    assert len(lines) == 1, lines
    assert reason in lines[0]
    assert "keeping the copy from" in lines[0]
    state = sources.states[-1]
    assert (tmp_path / "metadata-cache" / f"{state.key}.xml").read_bytes() == sp_metadata(acs=GOOD_ACS)
    assert state.last_error is not None and reason in state.last_error


BAD_ANSWERS = {
    "http error": ({"body": b"oops", "status": 500}, "the server answered HTTP 500"),
    "not xml": ({"body": b"this is not XML at all"}, "is not well-formed XML"),
    "html page": ({"body": b"<html><body>maintenance</body></html>"}, "not SAML metadata"),
    "dtd and entities": ({"body": BILLION_LAUGHS}, "carries a DTD or entity declaration"),
    "schema violation": ({"body": b'<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata"/>'},
                         "does not follow the SAML schema"),
    "wrong entity id": ({"body": sp_metadata(OTHER_ID, NEW_ACS)},
                        f"expected entity ID(s) missing from the document: {SP_ID}"),
    "oversized with length": ({"body": sp_metadata(acs=NEW_ACS) + b" " * MAX_SIZE},
                              f"the document is larger than {MAX_SIZE} bytes (Content-Length"),
    "oversized streamed": ({"body": sp_metadata(acs=NEW_ACS) + b" " * (20 * MAX_SIZE), "chunked": True},
                           f"the document is larger than {MAX_SIZE} bytes"),
    "http acs": ({"body": sp_metadata(acs="http://sp.example.test/acs")},
                 "no usable HTTP-POST AssertionConsumerService"),
    "too many redirects": ({"location": "/sp.xml"}, "more than 3 redirects"),
    "redirect to http": ({"location": "http://md.example.test/sp.xml"},
                         "refused a redirect to a non-https URL (http://md.example.test)"),
}


@pytest.mark.parametrize("case", list(BAD_ANSWERS))
def test_a_bad_answer_is_refused_and_the_last_good_copy_kept(tmp_path, clock, metadata_server, caplog, case):
    metadata_server.serve(sp_metadata(acs=GOOD_ACS))
    sources, metrics = _trusting(tmp_path, clock, metadata_server)
    options, reason = BAD_ANSWERS[case]
    metadata_server.serve(**options)
    caplog.clear()
    sources.tick()
    _assert_kept(sources, tmp_path, caplog, reason)
    assert _failures(metrics, metadata_server) == 1


def test_expired_metadata_is_refused(tmp_path, clock, metadata_server, caplog):
    metadata_server.serve(sp_metadata(acs=GOOD_ACS))
    sources, _ = _trusting(tmp_path, clock, metadata_server)
    metadata_server.serve(sp_metadata(acs=NEW_ACS, valid_until=clock() - timedelta(seconds=1)))
    caplog.clear()
    sources.tick()
    _assert_kept(sources, tmp_path, caplog, "the metadata expired at")


def test_expired_aggregate_is_refused(tmp_path, clock, metadata_server, caplog):
    metadata_server.serve(sp_metadata(acs=GOOD_ACS))
    sources, _ = _trusting(tmp_path, clock, metadata_server)
    past = (clock() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    metadata_server.serve(aggregate(entity(SP_ID, NEW_ACS, nested=True), attrs=f' validUntil="{past}"'))
    caplog.clear()
    sources.tick()
    _assert_kept(sources, tmp_path, caplog, "the metadata expired at")


def test_a_slow_server_is_abandoned_at_the_timeout(tmp_path, clock, metadata_server, caplog):
    metadata_server.serve(sp_metadata(acs=GOOD_ACS))
    sources, _ = _trusting(tmp_path, clock, metadata_server)
    metadata_server.serve(sp_metadata(acs=NEW_ACS), delay=5)
    caplog.clear()
    started = time.monotonic()
    sources.tick()
    assert time.monotonic() - started < FETCH_TIMEOUT + 1.5
    _assert_kept(sources, tmp_path, caplog, f"no answer within {FETCH_TIMEOUT:g} s")


def test_a_trickling_server_is_abandoned_at_the_timeout(tmp_path, clock, metadata_server, caplog):
    metadata_server.serve(sp_metadata(acs=GOOD_ACS))
    sources, _ = _trusting(tmp_path, clock, metadata_server)
    metadata_server.serve(sp_metadata(acs=NEW_ACS), drip=0.5)  # each piece in time, the whole too slow (5 s)
    caplog.clear()
    started = time.monotonic()
    sources.tick()
    assert time.monotonic() - started < FETCH_TIMEOUT + 1.5
    _assert_kept(sources, tmp_path, caplog, f"the download took longer than {FETCH_TIMEOUT:g} s")


def test_an_unreachable_server_is_refused(tmp_path, clock, caplog):
    server = MetadataServer().start()
    try:
        server.serve(sp_metadata(acs=GOOD_ACS))
        sources, _ = _trusting(tmp_path, clock, server)
    finally:
        server.stop()
    caplog.clear()
    sources.tick()
    _assert_kept(sources, tmp_path, caplog, "cannot fetch: ConnectError")


def test_a_closed_port_on_first_fetch_leaves_nothing_trusted(tmp_path, clock, caplog):
    sources = MetadataSources(settings_for(tmp_path, url_source(f"http://127.0.0.1:{free_port()}/sp.xml")),
                              clock=clock)
    sources.load()
    sources.tick()
    assert len(sources.registry) == 0
    assert "no copy to keep: its SPs are not trusted" in caplog.text
    assert next(iter(sources.problems().values())).startswith("no usable metadata: cannot fetch: ConnectError")


PINNED_FAILURES = {
    "unsigned": (lambda signer, other: sp_metadata(acs=NEW_ACS),
                 "the metadata is not signed, but a signing certificate is pinned"),
    "signed by another key": (lambda signer, other: other.sign(sp_metadata(acs=NEW_ACS)),
                              "does not verify with the trusted certificate"),
    "tampered after signing": (lambda signer, other: signer.sign(sp_metadata(acs=GOOD_ACS)).replace(
        GOOD_ACS.encode(), NEW_ACS.encode()), "does not verify with the trusted certificate"),
    "signature wrapped": (lambda signer, other: aggregate(
        signer.sign(sp_metadata(acs=GOOD_ACS)).decode().replace('<md:EntityDescriptor xmlns:md="urn:oasis:names:'
                                                                'tc:SAML:2.0:metadata"', '<md:EntityDescriptor'),
        entity(OTHER_ID, "https://intruder.test/acs", nested=True)), "the metadata is not signed"),
}


@pytest.mark.parametrize("pin_kind", ["pem", "sha256"])
@pytest.mark.parametrize("case", list(PINNED_FAILURES))
def test_with_a_pin_bad_or_missing_signatures_are_refused(tmp_path, clock, metadata_server, caplog, case, pin_kind):
    signer, other = Signer.shared("federation"), Signer.shared("someone-else")
    (tmp_path / "federation.pem").write_text(signer.certificate.pem)
    pin = "federation.pem" if pin_kind == "pem" else f"sha256:{signer.certificate.fingerprint}"
    good = signer.sign(sp_metadata(acs=GOOD_ACS))
    metadata_server.serve(good)
    sources, _ = _trusting(tmp_path, clock, metadata_server, signing_cert=pin)
    make, reason = PINNED_FAILURES[case]
    metadata_server.serve(make(signer, other))
    caplog.clear()
    sources.tick()
    if pin_kind == "sha256" and case == "signed by another key":
        reason = "not signed by the pinned certificate (fingerprint differs)"
    assert sources.registry.get(SP_ID).default_acs().location == GOOD_ACS
    assert sources.registry.find(OTHER_ID) is None
    assert reason in sources.states[-1].last_error
    assert (tmp_path / "metadata-cache" / f"{sources.states[-1].key}.xml").read_bytes() == good


def test_an_sp_claimed_by_two_sources_is_refused(tmp_path, clock, metadata_server, caplog):
    (tmp_path / "metadata").mkdir()
    (tmp_path / "metadata" / "local.xml").write_bytes(sp_metadata(OTHER_ID, "https://other.test/acs"))
    metadata_server.serve(sp_metadata(OTHER_ID, "https://intruder.test/acs"))
    sources = MetadataSources(settings_for(tmp_path, url_source(metadata_server.url(), OTHER_ID)), clock=clock)
    sources.load()
    sources.tick()
    assert sources.registry.get(OTHER_ID).default_acs().location == "https://other.test/acs"
    assert "is described twice" in sources.states[-1].last_error
