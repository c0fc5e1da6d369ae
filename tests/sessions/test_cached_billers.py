"""The SSO step reads billers from this process's cache (bridge.store_cache), never trusting a miss:
a biller added elsewhere is answered at once, one removed elsewhere stops at the next poll (SECURITY.md)."""

from __future__ import annotations

import uuid

from saml_peers import OneLoginSP

from bridge.billers import Biller, issue_api_key, validate_biller

from .conftest import PAYER, answered, sso_with


def _added_by_another_process(bridge, name: str, sp: OneLoginSP) -> None:  # type: ignore[no-untyped-def]
    """As the CLI or another node adds one: straight into the store, this process's cache not told."""
    biller = validate_biller(Biller(name=name, sp_entity_id=sp.entity_id, link_base="https://sso.invoicecloud.com",
                                    biller_guid=str(uuid.uuid5(uuid.NAMESPACE_URL, name))))
    bridge.store.put_biller(biller.record(created_at=bridge.clock()))
    bridge.api_keys[name] = issue_api_key(bridge.store, name, now=bridge.clock())


def test_a_biller_added_by_another_process_is_answered_before_the_next_poll(bridge):
    town = OneLoginSP("https://sp-town.test/metadata", "https://sp-town.test/acs")
    bridge.trust(town)
    bridge.instance.store_cache.poll()
    _added_by_another_process(bridge, "town", town)
    assert bridge.instance.store_cache.billers().get("town") is None  # the cached copy has not seen it
    assert bridge.launch("town", **PAYER).status_code == 303
    assert answered(sso_with(bridge.client, town, bridge.clock))


def test_a_biller_removed_by_another_process_is_refused_after_the_next_poll(bridge, sp):
    assert bridge.launch("city", **PAYER).status_code == 303
    assert answered(sso_with(bridge.client, sp, bridge.clock))
    bridge.store.delete_biller("city")  # elsewhere: this process's cache not told
    bridge.instance.store_cache.poll()  # its background refresh, every store.cache_refresh
    assert not answered(sso_with(bridge.client, sp, bridge.clock))
