"""The admin console switches a biller between SAML and REST sign-in (and back), with REST's options."""

from __future__ import annotations

from admin.conftest import sign_in
from dev_bridge import DevBridge

from bridge.billers import get_biller

DEMO_FORM = {
    "biller_guid": "c09d08fb-a969-4778-bb58-b46a8e9224e7", "sp_entity_id": "https://bridge.test/simulator/metadata",
    "link_base": "https://bridge.test/simulator/saml", "view_mode": "1", "deep_link": "1", "flow": "sp-initiated",
    "login_types": "owner=1\ndefault=1", "allowed_deep_links": ["1", "2", "3"],
}


def _save(bridge: DevBridge, csrf: str, **fields: str):  # type: ignore[no-untyped-def]
    return bridge.client.post("/admin/billers/demo", data={**DEMO_FORM, **fields, "csrf": csrf})


def test_the_console_switches_the_demo_biller_to_rest_and_back(dev_bridge: DevBridge) -> None:
    csrf = sign_in(dev_bridge)
    page = _save(dev_bridge, csrf, sso_method="rest", rest_login_type_id="5", rest_delivery="get")
    assert page.status_code == 200, page.text[:500]
    biller = get_biller(dev_bridge.instance.store, "demo")
    assert (biller.sso_method, biller.rest_login_type_id, biller.rest_delivery) == ("rest", 5, "get")
    form = dev_bridge.client.get("/admin/billers/demo").text
    assert '<option value="rest" selected>' in form and '<option value="5" selected>' in form
    _save(dev_bridge, csrf, sso_method="saml")
    assert get_biller(dev_bridge.instance.store, "demo").sso_method == "saml"


def test_the_console_refuses_a_login_type_id_rest_does_not_know(dev_bridge: DevBridge) -> None:
    csrf = sign_in(dev_bridge)
    page = _save(dev_bridge, csrf, sso_method="rest", rest_login_type_id="3")
    assert page.status_code == 400 and "rest_login_type_id: must be one of 1, 5" in page.text
    assert get_biller(dev_bridge.instance.store, "demo").sso_method == "saml"
