"""The rollover guard: who fetched metadata listing the pending key, as `activate` reports it."""

from __future__ import annotations

from bridge.store.base import MetadataFetch

from .conftest import DAY

IC = "InvoiceCloud-MetadataImporter/2.1"


def _fetch(bridge, user_agent: str) -> None:
    assert bridge.client.get("/saml/metadata", headers={"User-Agent": user_agent}).status_code == 200
    bridge.instance.fetch_log.flush()  # the background loop does this every 5 s


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
