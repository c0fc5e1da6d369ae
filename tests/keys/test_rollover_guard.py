"""The rollover guard: who fetched metadata listing the pending key, as `activate` reports it."""

from __future__ import annotations

from datetime import timedelta

from bridge.store.base import MetadataFetch

from .conftest import DAY

IC = "InvoiceCloud-MetadataImporter/2.1"


def _fetch(bridge, user_agent: str) -> None:
    assert bridge.client.get("/saml/metadata", headers={"User-Agent": user_agent}).status_code == 200
    bridge.instance.fetch_log.flush()  # repeats within a minute wait for the background loop (every 5 s)


def test_activate_reports_the_last_fetch_per_client_that_listed_the_pending_key(sqlite_admin):
    bridge = sqlite_admin.bridge
    new = sqlite_admin.staged()
    _fetch(bridge, IC)
    bridge.clock.advance(3600)
    _fetch(bridge, IC)
    fetched_at = bridge.clock()
    _fetch(bridge, "curl/8.0")
    bridge.clock.advance(DAY)
    activation = sqlite_admin.activate(new)
    evidence = {(c.client_ip, c.user_agent): c.last_fetch for c in activation.evidence}
    assert evidence == {("testclient", IC): fetched_at, ("testclient", "curl/8.0"): fetched_at}
    assert activation.warnings == ()


def test_activate_warns_when_no_client_fetched_the_pending_key(sqlite_admin):
    bridge = sqlite_admin.bridge
    _fetch(bridge, IC)  # before staging: only the old key was listed
    bridge.clock.advance(60)
    new = sqlite_admin.staged()
    bridge.clock.advance(DAY)
    activation = sqlite_admin.activate(new)
    assert activation.evidence == ()
    assert any(w.startswith(f"no client has fetched metadata listing {new}") for w in activation.warnings)


def test_activate_names_a_client_whose_fetch_after_staging_lacked_the_key(sqlite_admin):
    bridge = sqlite_admin.bridge
    old = sqlite_admin.active_kid
    new = sqlite_admin.staged()
    _fetch(bridge, IC)
    # Another node, not yet refreshed, served metadata without the new key to a second SP.
    bridge.store.record_metadata_fetch(MetadataFetch(bridge.clock(), "198.51.100.7", "other-sp/1.0", (old,)))
    bridge.clock.advance(DAY)
    activation = sqlite_admin.activate(new)
    assert [c.last_fetch is None for c in activation.evidence] == [False, True]
    assert any("198.51.100.7 (other-sp/1.0) fetched metadata without" in w for w in activation.warnings)


def test_a_fetch_is_on_record_when_its_response_arrives(sqlite_admin):
    bridge = sqlite_admin.bridge
    new = sqlite_admin.staged()
    assert bridge.client.get("/saml/metadata", headers={"User-Agent": IC}).status_code == 200
    # No flush: `icbridge keys activate` run right after IC re-saved the URL sees the fetch (on any node).
    assert [(f.user_agent, new in f.kids) for f in bridge.store.metadata_fetches()] == [(IC, True)]
    bridge.clock.advance(DAY)
    assert sqlite_admin.activate(new).warnings == ()


def test_repeats_within_a_minute_are_batched_and_move_the_last_fetch_forward(sqlite_admin):
    bridge = sqlite_admin.bridge
    new = sqlite_admin.staged()
    for _ in range(3):
        assert bridge.client.get("/saml/metadata", headers={"User-Agent": IC}).status_code == 200
        bridge.clock.advance(10)
    assert len(bridge.store.metadata_fetches()) == 1  # the repeats wait for the background flush
    bridge.instance.fetch_log.flush()
    fetches = bridge.store.metadata_fetches()
    assert len(fetches) == 3 and fetches[-1].at == bridge.clock() - timedelta(seconds=10)
    bridge.clock.advance(DAY)
    (client,) = sqlite_admin.activate(new).evidence
    assert client.last_fetch == fetches[-1].at
