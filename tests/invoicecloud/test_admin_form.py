"""The admin console's biller form sets IC credentials without ever showing them again."""

from __future__ import annotations

import pytest
from admin.conftest import sign_in
from dev_bridge import DevBridge

from bridge.billers import get_biller
from bridge.invoicecloud import credentials

IC_KEY = "ic-live-Zq8pX2mN4vB7cD1eF3gH5jK9"
DEMO_FORM = {
    "biller_guid": "c09d08fb-a969-4778-bb58-b46a8e9224e7", "sp_entity_id": "https://bridge.test/simulator/metadata",
    "link_base": "https://bridge.test/simulator/saml", "view_mode": "1", "deep_link": "1", "flow": "sp-initiated",
    "login_types": "owner=1\ndefault=1", "allowed_deep_links": ["1", "2", "3"],
}


@pytest.fixture
def admin(dev_bridge: DevBridge) -> DevBridge:
    dev_bridge.csrf = sign_in(dev_bridge)  # type: ignore[attr-defined]
    return dev_bridge


def _save(admin: DevBridge, **fields: str):  # type: ignore[no-untyped-def]
    return admin.client.post("/admin/billers/demo", data={**DEMO_FORM, **fields, "csrf": admin.csrf})  # type: ignore[attr-defined]


def _key(admin: DevBridge) -> str | None:
    biller = get_biller(admin.instance.store, "demo")
    if biller.ic_api_key is None:
        return None
    return credentials.reveal(biller, credentials.API_KEY, credentials.secret_box(admin.instance.settings))


def test_a_key_set_in_the_form_is_sealed_and_shown_by_its_last_four_characters(admin: DevBridge) -> None:
    page = _save(admin, ic_api_key=IC_KEY, payment_webhook="https://portal.example/hook")
    assert page.status_code == 200 and "Saved biller demo." in page.text
    assert IC_KEY not in page.text and "…" + IC_KEY[-4:] in page.text
    assert _key(admin) == IC_KEY
    assert IC_KEY not in admin.client.get("/admin/billers/demo").text
    assert get_biller(admin.instance.store, "demo").payment_webhook == "https://portal.example/hook"


def test_a_blank_key_field_keeps_the_stored_key(admin: DevBridge) -> None:
    _save(admin, ic_api_key=IC_KEY)
    assert _save(admin, ic_api_key="", ic_api_base="http://127.0.0.1:8000/simulator").status_code == 200
    assert _key(admin) == IC_KEY


def test_the_remove_box_deletes_the_stored_key(admin: DevBridge) -> None:
    _save(admin, ic_api_key=IC_KEY)
    _save(admin, clear_ic_api_key="on")
    assert _key(admin) is None


def test_a_form_refused_for_another_field_does_not_echo_the_typed_key(admin: DevBridge) -> None:
    before = _key(admin)  # the development instance's demo biller holds the simulator's key
    page = _save(admin, ic_api_key=IC_KEY, payment_webhook="http://portal.example/hook")
    assert page.status_code == 400 and "payment_webhook" in page.text
    assert IC_KEY not in page.text
    assert _key(admin) == before


def test_the_audit_row_of_an_edit_names_the_field_not_the_value(admin: DevBridge) -> None:
    _save(admin, ic_api_key=IC_KEY)
    rows = [e for e in admin.instance.store.audit_events() if e.event == "biller.changed"]
    assert "ic_api_key" in (rows[-1].detail or "") and IC_KEY not in (rows[-1].detail or "")
